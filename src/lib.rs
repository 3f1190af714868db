//! allot: FinOps cost allocation. Importers load billing data into the store,
//! the rule engine gives every cost line an owner, and the API and CLI serve
//! exact showback. See `ARCHITECTURE.md` for the tour.

/// Money, months, teams and cost lines: the types everything else speaks.
pub mod domain;
