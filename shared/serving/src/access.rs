//! Per-method authorisation: roles, each with the tokens that prove it, and the roles each
//! RPC admits. It runs before any service sees a request, for every service on the port, so a
//! method nobody listed is refused rather than left open. Health and reflection stay open, for
//! probes and `grpcurl`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use colloquy_access::TokenSet;
use futures_util::future::{Either, Ready, ready};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{Extensions, HeaderMap, Request, Response};

/// Services anyone may call.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// One role and the tokens that prove it.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: &'static str,
    pub tokens: TokenSet,
}

/// Credentials checked by something other than a fixed token list, such as API keys a cache
/// keeps fresh. What it learns of the caller goes into the request's extensions, for the
/// service to act on.
pub trait CredentialCheck: Send + Sync {
    /// The role a credential of this kind holds.
    fn role(&self) -> &'static str;
    /// Whether `presented` has this kind's shape; other credentials go to the tokens.
    fn recognises(&self, presented: &str) -> bool;
    /// Admits `presented`, or says why not.
    fn verify(&self, presented: &str) -> Result<Extensions, Status>;
}

/// Who may call what on one port.
#[derive(Clone)]
pub struct Access {
    roles: Vec<Role>,
    /// Full method path (`/colloquy.store.v1.ConversationStore/UpsertPrice`) to the roles it
    /// admits.
    methods: HashMap<String, Vec<&'static str>>,
    credentials: Option<Arc<dyn CredentialCheck>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("roles", &self.roles)
            .field("methods", &self.methods)
            .field("credentials", &self.credentials.as_ref().map(|c| c.role()))
            .finish()
    }
}

/// A setting that would leave a port open to anyone who can reach it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{key}: {addr} is not a loopback address and no credentials are configured, so anyone who \
     can reach it could call every method; configure tokens, or set \
     allow_unauthenticated = true to serve without them"
)]
pub struct OpenToTheNetwork {
    pub key: String,
    pub addr: SocketAddr,
}

impl Access {
    /// `methods` pairs each method of `service` (its name only, `RecordCompletion`) with the
    /// roles it admits.
    pub fn new(roles: Vec<Role>) -> Self {
        Self {
            roles,
            methods: HashMap::new(),
            credentials: None,
        }
    }

    /// Also admits the credentials `check` recognises, as its role.
    pub fn with_credentials(mut self, check: Arc<dyn CredentialCheck>) -> Self {
        self.credentials = Some(check);
        self
    }

    /// Admits `roles` to `method` of `service` (`colloquy.store.v1.ConversationStore`).
    pub fn allow(mut self, service: &str, method: &str, roles: &[&'static str]) -> Self {
        self.methods
            .insert(format!("/{service}/{method}"), roles.to_vec());
        self
    }

    /// No token is configured for any role and no other credential is checked: every method
    /// is open.
    pub fn is_open(&self) -> bool {
        self.credentials.is_none() && self.roles.iter().all(|role| role.tokens.is_empty())
    }

    /// Refuses an open port on an address other callers can reach, unless the settings say
    /// `allow_unauthenticated` in so many words.
    pub fn check_exposure(
        &self,
        key: &str,
        addr: SocketAddr,
        allow_unauthenticated: bool,
    ) -> Result<(), OpenToTheNetwork> {
        if self.is_open() && !addr.ip().is_loopback() && !allow_unauthenticated {
            return Err(OpenToTheNetwork {
                key: key.into(),
                addr,
            });
        }
        Ok(())
    }

    /// Decides one call from its path and headers; what a credential check learnt of the
    /// caller comes back as extensions for the request.
    pub fn check(&self, path: &str, headers: &HeaderMap) -> Result<Extensions, Status> {
        if OPEN_SERVICES.iter().any(|open| path.starts_with(open)) || self.is_open() {
            return Ok(Extensions::new());
        }
        let Some(admitted) = self.methods.get(path) else {
            return Err(Status::permission_denied(format!(
                "no role may call {path}"
            )));
        };
        let presented = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated(
                    "a bearer token is required (authorization: Bearer <token>)",
                )
            })?;
        if let Some(check) = &self.credentials
            && check.recognises(presented)
        {
            if !admitted.contains(&check.role()) {
                let method = path.rsplit('/').next().unwrap_or(path);
                return Err(Status::permission_denied(format!(
                    "the {} credential may not call {method}",
                    check.role()
                )));
            }
            return check.verify(presented);
        }
        let holds = |role: &Role| role.tokens.matches(presented.as_bytes());
        let mut held = self.roles.iter().filter(|role| holds(role)).peekable();
        if held.peek().is_none() {
            return Err(Status::unauthenticated("the bearer token is not valid"));
        }
        let held: Vec<&str> = held.map(|role| role.name).collect();
        if held.iter().any(|name| admitted.contains(name)) {
            return Ok(Extensions::new());
        }
        let method = path.rsplit('/').next().unwrap_or(path);
        Err(Status::permission_denied(format!(
            "the {} credential may not call {method}; it takes the {} credential",
            held.join(" and "),
            admitted.join(" or ")
        )))
    }
}

/// A service behind [`Access`]: refused calls never reach it.
#[derive(Clone)]
pub struct Authorized<S> {
    inner: S,
    access: Arc<Access>,
}

impl<S> Authorized<S> {
    pub fn new(inner: S, access: Arc<Access>) -> Self {
        Self { inner, access }
    }
}

impl<S> Service<Request<Body>> for Authorized<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.access.check(request.uri().path(), request.headers()) {
            Ok(learnt) => {
                request.extensions_mut().extend(learnt);
                Either::Left(self.inner.call(request))
            }
            Err(status) => Either::Right(ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use colloquy_access::BearerToken;
    use tonic::Code;

    use super::*;

    const STORE: &str = "colloquy.store.v1.ConversationStore";

    fn tokens(list: &[&str]) -> TokenSet {
        TokenSet::from_tokens(list.iter().filter_map(|t| BearerToken::new(t)))
    }

    fn store() -> Access {
        Access::new(vec![
            Role {
                name: "ingest",
                tokens: tokens(&["ingest-token"]),
            },
            Role {
                name: "read",
                tokens: tokens(&[]),
            },
            Role {
                name: "admin",
                tokens: tokens(&["admin-token", "admin-next"]),
            },
        ])
        .allow(STORE, "RecordCompletion", &["ingest"])
        .allow(STORE, "GetConversation", &["ingest", "read", "admin"])
        .allow(STORE, "UpsertPrice", &["admin"])
    }

    fn call(access: &Access, method: &str, token: Option<&str>) -> Result<(), Code> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        access
            .check(&format!("/{STORE}/{method}"), &headers)
            .map(|_| ())
            .map_err(|status| status.code())
    }

    #[test]
    fn each_method_admits_its_roles_only() {
        let access = store();
        assert_eq!(
            call(&access, "RecordCompletion", Some("ingest-token")),
            Ok(())
        );
        assert_eq!(
            call(&access, "GetConversation", Some("ingest-token")),
            Ok(())
        );
        assert_eq!(call(&access, "UpsertPrice", Some("admin-next")), Ok(()));
        assert_eq!(
            call(&access, "UpsertPrice", Some("ingest-token")),
            Err(Code::PermissionDenied),
            "a gateway's credential cannot change prices"
        );
        assert_eq!(
            call(&access, "UpsertPrice", None),
            Err(Code::Unauthenticated)
        );
        assert_eq!(
            call(&access, "UpsertPrice", Some("guess")),
            Err(Code::Unauthenticated)
        );
        assert_eq!(
            call(&access, "ListPrices", Some("admin-token")),
            Err(Code::PermissionDenied),
            "a method nobody listed is closed"
        );
        let denied = access
            .check(
                &format!("/{STORE}/UpsertPrice"),
                &[("authorization", "Bearer ingest-token")]
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                    .collect(),
            )
            .unwrap_err();
        assert!(denied.message().contains("ingest credential"), "{denied:?}");
    }

    #[test]
    fn probes_pass_and_an_open_port_must_be_loopback_or_say_so() {
        let access = store();
        let headers = HeaderMap::new();
        assert!(
            access
                .check("/grpc.health.v1.Health/Check", &headers)
                .is_ok()
        );
        assert!(
            access
                .check(
                    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                    &headers
                )
                .is_ok()
        );
        let open = Access::new(vec![Role {
            name: "caller",
            tokens: TokenSet::default(),
        }]);
        assert!(open.check("/anything/At", &headers).is_ok());
        let loopback: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let anywhere: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        assert!(open.check_exposure("auth", loopback, false).is_ok());
        let error = open.check_exposure("auth", anywhere, false).unwrap_err();
        assert!(
            error.to_string().contains("allow_unauthenticated"),
            "{error}"
        );
        assert!(open.check_exposure("auth", anywhere, true).is_ok());
        assert!(access.check_exposure("auth", anywhere, false).is_ok());
    }

    /// Admits `k_good` and tells the service who called.
    struct Keys;

    impl CredentialCheck for Keys {
        fn role(&self) -> &'static str {
            "key"
        }
        fn recognises(&self, presented: &str) -> bool {
            presented.starts_with("k_")
        }
        fn verify(&self, presented: &str) -> Result<Extensions, Status> {
            if presented != "k_good" {
                return Err(Status::unauthenticated("unknown key"));
            }
            let mut learnt = Extensions::new();
            learnt.insert(String::from("tenant-of-k_good"));
            Ok(learnt)
        }
    }

    #[test]
    fn checked_credentials_carry_what_was_learnt_and_hold_their_role_only() {
        let access = store()
            .allow(STORE, "RecordCompletion", &["ingest", "key"])
            .with_credentials(Arc::new(Keys));
        assert!(!access.is_open());
        let headers = |token: &str| -> HeaderMap {
            [("authorization", format!("Bearer {token}"))]
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect()
        };
        let path = format!("/{STORE}/RecordCompletion");
        let learnt = access.check(&path, &headers("k_good")).unwrap();
        assert_eq!(
            learnt.get::<String>().map(String::as_str),
            Some("tenant-of-k_good")
        );
        let refused = access.check(&path, &headers("k_bad")).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        let elsewhere = access
            .check(&format!("/{STORE}/UpsertPrice"), &headers("k_good"))
            .unwrap_err();
        assert_eq!(elsewhere.code(), Code::PermissionDenied);
        let token = access.check(&path, &headers("ingest-token")).unwrap();
        assert!(token.get::<String>().is_none());
        let keys_only = Access::new(Vec::new()).with_credentials(Arc::new(Keys));
        assert!(!keys_only.is_open(), "a port that checks keys is not open");
    }
}
