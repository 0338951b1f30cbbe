//! What the cluster and the service share: capacity provider strategies (the cluster's
//! default, the service's own) and ECS's naming rule.

use aws_sdk_ecs::types::CapacityProviderStrategyItem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyItem {
    pub capacity_provider: String,
    pub weight: i32,
    pub base: i32,
}

impl StrategyItem {
    pub fn of(item: &CapacityProviderStrategyItem) -> StrategyItem {
        StrategyItem {
            capacity_provider: item.capacity_provider().to_string(),
            weight: item.weight(),
            base: item.base(),
        }
    }
}

/// The seed's spread: FARGATE weight 50 base 20, FARGATE_SPOT weight 50.
pub fn default_strategy() -> Vec<StrategyItem> {
    vec![
        StrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 50,
            base: 20,
        },
        StrategyItem {
            capacity_provider: "FARGATE_SPOT".into(),
            weight: 50,
            base: 0,
        },
    ]
}

/// ECS's rule for cluster and service names.
pub fn valid_ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Order does not matter to ECS: compare strategies sorted by provider.
pub fn sorted(strategy: &[StrategyItem]) -> Vec<StrategyItem> {
    let mut s = strategy.to_vec();
    s.sort_by(|a, b| a.capacity_provider.cmp(&b.capacity_provider));
    s
}

pub fn same(a: &[StrategyItem], b: &[StrategyItem]) -> bool {
    sorted(a) == sorted(b)
}

pub fn strategy_items(strategy: &[StrategyItem]) -> Vec<CapacityProviderStrategyItem> {
    strategy
        .iter()
        .map(|s| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.capacity_provider)
                .weight(s.weight)
                .base(s.base)
                .build()
                .expect("capacity provider is set")
        })
        .collect()
}

/// `FARGATE:50:20,FARGATE_SPOT:50:0`: the cluster's strategy as one string (a Data value),
/// sorted so that a reordering is no change.
pub fn fingerprint(strategy: &[StrategyItem]) -> String {
    sorted(strategy)
        .iter()
        .map(|s| format!("{}:{}:{}", s.capacity_provider, s.weight, s.base))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str, w: i32, b: i32) -> StrategyItem {
        StrategyItem {
            capacity_provider: p.into(),
            weight: w,
            base: b,
        }
    }

    #[test]
    fn order_is_no_change() {
        let a = [item("FARGATE", 50, 20), item("FARGATE_SPOT", 50, 0)];
        let b = [item("FARGATE_SPOT", 50, 0), item("FARGATE", 50, 20)];
        assert!(same(&a, &b));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), "FARGATE:50:20,FARGATE_SPOT:50:0");
        assert!(!same(&a, &[item("FARGATE", 1, 0)]));
    }
}
