use operator_common::properties::{Properties, PropertyError, Result};
use serde_json::{Map, Value};

pub use crate::capacity::{default_strategy, valid_ecs_name as valid_cluster_name, StrategyItem};

pub const KNOWN: &[&str] = &[
    "ClusterName",
    "CapacityProviderStrategy",
    "ContainerInsights",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub name: String,
    pub strategy: Vec<StrategyItem>,
    /// enabled, disabled or enhanced.
    pub container_insights: String,
}

fn parse_strategy(p: &Properties) -> Result<Vec<StrategyItem>> {
    const NAME: &str = "CapacityProviderStrategy";
    let Some(items) = p.object_list(NAME)? else {
        return Ok(default_strategy());
    };
    let mut strategy = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ip = Properties::new(item);
        ip.reject_unknown(&["CapacityProvider", "Weight", "Base"])
            .map_err(|e| {
                PropertyError::invalid(&format!("{NAME}[{i}]"), e.property(), "unknown key")
            })?;
        let field = |e: PropertyError| match e {
            PropertyError::Missing { property } => PropertyError::Missing {
                property: format!("{NAME}[{i}].{property}"),
            },
            PropertyError::Invalid {
                property,
                found,
                expected,
            } => PropertyError::Invalid {
                property: format!("{NAME}[{i}].{property}"),
                found,
                expected,
            },
            other => other,
        };
        strategy.push(StrategyItem {
            capacity_provider: ip
                .one_of("CapacityProvider", "", &["FARGATE", "FARGATE_SPOT"])
                .map_err(field)?,
            weight: ip.int("Weight", 0i32, 0, 1000).map_err(field)?,
            base: ip.int("Base", 0i32, 0, 100_000).map_err(field)?,
        });
    }
    if strategy.is_empty() {
        return Err(PropertyError::Missing {
            property: NAME.into(),
        });
    }
    if strategy.iter().filter(|s| s.base > 0).count() > 1 {
        return Err(PropertyError::invalid(
            NAME,
            "more than one Base",
            "only one capacity provider may have a Base",
        ));
    }
    if strategy.iter().all(|s| s.weight == 0) {
        return Err(PropertyError::invalid(
            NAME,
            "all Weights 0",
            "at least one Weight must be above 0",
        ));
    }
    let mut providers: Vec<&str> = strategy
        .iter()
        .map(|s| s.capacity_provider.as_str())
        .collect();
    providers.sort();
    providers.dedup();
    if providers.len() != strategy.len() {
        return Err(PropertyError::invalid(
            NAME,
            "a repeated CapacityProvider",
            "each provider at most once",
        ));
    }
    Ok(strategy)
}

impl ClusterSpec {
    pub fn parse(map: &Map<String, Value>) -> Result<Self> {
        let p = Properties::new(map);
        p.reject_unknown(KNOWN)?;
        let name = p.string("ClusterName")?;
        if !valid_cluster_name(&name) {
            return Err(PropertyError::invalid(
                "ClusterName",
                format!("{name:?}"),
                "expected 1-255 letters, digits, hyphens and underscores",
            ));
        }
        Ok(ClusterSpec {
            name,
            strategy: parse_strategy(&p)?,
            container_insights: p.one_of(
                "ContainerInsights",
                "enabled",
                &["enabled", "disabled", "enhanced"],
            )?,
        })
    }

    pub fn named(name: &str) -> Self {
        ClusterSpec {
            name: name.to_string(),
            strategy: default_strategy(),
            container_insights: "enabled".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ClusterSpec> {
        ClusterSpec::parse(v.as_object().unwrap())
    }

    #[test]
    fn defaults_are_the_seed_spread() {
        let s = parse(json!({"ClusterName": "sky-high-booker"})).unwrap();
        assert_eq!(s.strategy, default_strategy());
        assert_eq!(s.container_insights, "enabled");
    }

    #[test]
    fn strategy_values_arrive_as_strings() {
        let s = parse(json!({"ClusterName": "c", "CapacityProviderStrategy": [
            {"CapacityProvider": "FARGATE", "Weight": "1", "Base": "2"},
            {"CapacityProvider": "FARGATE_SPOT", "Weight": "3"}]}))
        .unwrap();
        assert_eq!(s.strategy[0].base, 2);
        assert_eq!(s.strategy[1].weight, 3);
    }

    #[test]
    fn every_bad_value_names_its_property() {
        let cases = [
            (json!({}), "ClusterName"),
            (json!({"ClusterName": "has space"}), "ClusterName"),
            (
                json!({"ClusterName": "c", "ContainerInsights": "on"}),
                "ContainerInsights",
            ),
            (
                json!({"ClusterName": "c", "CapacityProviderStrategy": "FARGATE"}),
                "CapacityProviderStrategy",
            ),
            (
                json!({"ClusterName": "c", "CapacityProviderStrategy": [{"CapacityProvider": "EC2", "Weight": "1"}]}),
                "CapacityProviderStrategy[0].CapacityProvider",
            ),
            (
                json!({"ClusterName": "c", "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": "-1"}]}),
                "CapacityProviderStrategy[0].Weight",
            ),
            (
                json!({"ClusterName": "c", "CapacityProviderStrategy": [
                {"CapacityProvider": "FARGATE", "Weight": "1", "Base": "1"},
                {"CapacityProvider": "FARGATE_SPOT", "Weight": "1", "Base": "1"}]}),
                "CapacityProviderStrategy",
            ),
            (
                json!({"ClusterName": "c", "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": "0"}]}),
                "CapacityProviderStrategy",
            ),
            (json!({"ClusterName": "c", "Size": "big"}), "Size"),
        ];
        for (props, property) in cases {
            assert_eq!(
                parse(props.clone()).unwrap_err().property(),
                property,
                "{props}"
            );
        }
    }
}
