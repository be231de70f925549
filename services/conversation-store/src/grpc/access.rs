//! Which credential may call which method of the store: gateways ingest (and read the
//! histories they continue, the key grants they admit callers by, and the budgets and prices
//! they hold calls to), readers read, operators change prices, keys and budgets, and read.

use colloquy_access::TokenSet;
use colloquy_serving::{Access, Role};

use crate::settings::AuthSettings;

pub const STORE_SERVICE: &str = "colloquy.store.v1.ConversationStore";

const INGEST: &str = "ingest";
const READ: &str = "read";
const ADMIN: &str = "admin";

/// The store's roles, with their tokens, and what each method admits.
pub fn store_access(auth: &AuthSettings) -> anyhow::Result<Access> {
    let roles = vec![
        Role {
            name: INGEST,
            tokens: TokenSet::load(&auth.ingest, "auth.ingest")?,
        },
        Role {
            name: READ,
            tokens: TokenSet::load(&auth.read, "auth.read")?,
        },
        Role {
            name: ADMIN,
            tokens: TokenSet::load(&auth.admin, "auth.admin")?,
        },
    ];
    let reads = [
        "ListApiKeys",
        "ListConversations",
        "ListUsage",
        "SummarizeCosts",
        "ListPlatforms",
    ];
    let access = reads
        .into_iter()
        .fold(Access::new(roles), |access, method| {
            access.allow(STORE_SERVICE, method, &[READ, ADMIN])
        });
    Ok(access
        .allow(STORE_SERVICE, "RecordCompletion", &[INGEST])
        .allow(STORE_SERVICE, "ListPrices", &[INGEST, READ, ADMIN])
        .allow(STORE_SERVICE, "GetConversation", &[INGEST, READ, ADMIN])
        .allow(STORE_SERVICE, "UpsertPrice", &[ADMIN])
        .allow(STORE_SERVICE, "ImportPrices", &[ADMIN])
        .allow(STORE_SERVICE, "CreateApiKey", &[ADMIN])
        .allow(STORE_SERVICE, "RevokeApiKey", &[ADMIN])
        .allow(STORE_SERVICE, "RotateApiKey", &[ADMIN])
        .allow(STORE_SERVICE, "ListKeyGrants", &[INGEST, ADMIN])
        .allow(STORE_SERVICE, "SetBudget", &[ADMIN])
        .allow(STORE_SERVICE, "DeleteBudget", &[ADMIN])
        .allow(STORE_SERVICE, "GetBudget", &[INGEST, READ, ADMIN])
        // Gateways hold calls to the budgets, estimating completions at catalogue prices.
        .allow(STORE_SERVICE, "ListBudgets", &[INGEST, READ, ADMIN])
        .allow(STORE_SERVICE, "LeaseBudgets", &[INGEST, ADMIN]))
}
