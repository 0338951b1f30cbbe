//! template.yaml's network edge as CloudFormation receives it (expanded by SAM's translator,
//! offline): no security group keeps EC2's default "all traffic anywhere" egress, the load
//! balancer may send only to the tasks' port, the tasks take only the load balancer and reach
//! only HTTPS and DNS (one more port or range only through TaskExtraEgressPorts), and the VPC's
//! flow logs go to a log group with retention through a role scoped to it.

use local_harness::template::expanded_by_sam as expanded;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn group_id(logical_id: &str) -> Value {
    json!({"Fn::GetAtt": [logical_id, "GroupId"]})
}

/// Every rule of `group` in one direction ("Egress" or "Ingress"): its inline rules and the
/// standalone AWS::EC2::SecurityGroup<direction> resources on it, each with its Condition.
fn rules(resources: &Value, group: &str, direction: &str) -> Vec<(Value, Option<String>)> {
    let mut found: Vec<(Value, Option<String>)> = resources[group]["Properties"]
        [format!("SecurityGroup{direction}")]
    .as_array()
    .into_iter()
    .flatten()
    .map(|r| (r.clone(), None))
    .collect();
    for r in resources.as_object().unwrap().values() {
        if r["Type"] == format!("AWS::EC2::SecurityGroup{direction}")
            && r["Properties"]["GroupId"] == group_id(group)
        {
            let condition = r["Condition"].as_str().map(str::to_string);
            found.push((r["Properties"].clone(), condition));
        }
    }
    found
}

/// EC2's rule that matches no packet (ICMP type 252, code 86, to the broadcast address): the
/// only way to make a group whose every real egress rule is a resource of its own.
fn matches_nothing(rule: &Value) -> bool {
    rule["IpProtocol"] == "icmp"
        && rule["FromPort"] == 252
        && rule["ToPort"] == 86
        && rule["CidrIp"] == "255.255.255.255/32"
}

#[test]
fn no_security_group_keeps_the_default_allow_all_egress() {
    let t = expanded();
    let resources = &t["Resources"];
    let groups: Vec<&String> = resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::EC2::SecurityGroup")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    for id in groups {
        // EC2 adds "all traffic to 0.0.0.0/0" to a group created without inline egress rules,
        // whatever standalone SecurityGroupEgress resources add later.
        let inline = resources[id]["Properties"]["SecurityGroupEgress"].as_array();
        assert!(
            inline.is_some_and(|r| !r.is_empty()),
            "{id}: no inline egress rule, so EC2 keeps its allow-all rule"
        );
        for (rule, _) in rules(resources, id, "Egress") {
            assert_ne!(rule["IpProtocol"], "-1", "{id}: all protocols: {rule}");
            assert_ne!(rule["IpProtocol"], -1, "{id}: all protocols: {rule}");
        }
    }
}

#[test]
fn the_load_balancer_may_send_only_to_the_tasks_port() {
    let t = expanded();
    let resources = &t["Resources"];
    let mut to_tasks = 0;
    for (rule, condition) in rules(resources, "AlbSecurityGroup", "Egress") {
        if matches_nothing(&rule) {
            continue;
        }
        assert_eq!(condition, None, "{rule}");
        assert_eq!(rule["IpProtocol"], "tcp", "{rule}");
        assert_eq!(rule["FromPort"], json!({"Ref": "ContainerPort"}), "{rule}");
        assert_eq!(rule["ToPort"], json!({"Ref": "ContainerPort"}), "{rule}");
        assert_eq!(
            rule["DestinationSecurityGroupId"],
            group_id("TaskSecurityGroup"),
            "{rule}"
        );
        assert!(rule.get("CidrIp").is_none(), "{rule}");
        to_tasks += 1;
    }
    assert_eq!(
        to_tasks, 1,
        "one rule: requests and health checks to the tasks"
    );

    let ingress: Vec<(Value, Option<String>)> = rules(resources, "AlbSecurityGroup", "Ingress");
    let ports: Vec<(Value, Value)> = ingress
        .iter()
        .map(|(r, _)| (r["FromPort"].clone(), r["ToPort"].clone()))
        .collect();
    assert_eq!(
        ports,
        vec![(json!(80), json!(80)), (json!(443), json!(443))]
    );
}

#[test]
fn the_tasks_take_only_the_load_balancer_and_reach_only_https_and_dns() {
    let t = expanded();
    let resources = &t["Resources"];
    let ingress = rules(resources, "TaskSecurityGroup", "Ingress");
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    let (rule, condition) = &ingress[0];
    assert_eq!(*condition, None);
    assert_eq!(rule["SourceSecurityGroupId"], group_id("AlbSecurityGroup"));
    assert_eq!(rule["FromPort"], json!({"Ref": "ContainerPort"}));
    assert_eq!(rule["ToPort"], json!({"Ref": "ContainerPort"}));

    let vpc_cidr = json!({"Fn::GetAtt": ["Vpc", "CidrBlock"]});
    let mut always: Vec<(String, Value, Value, Value)> = Vec::new();
    let mut conditional = Vec::new();
    for (rule, condition) in rules(resources, "TaskSecurityGroup", "Egress") {
        assert!(rule.get("DestinationSecurityGroupId").is_none(), "{rule}");
        match condition {
            None => always.push((
                rule["IpProtocol"].as_str().unwrap_or_default().to_string(),
                rule["FromPort"].clone(),
                rule["ToPort"].clone(),
                rule["CidrIp"].clone(),
            )),
            Some(c) => conditional.push((c, rule)),
        }
    }
    always.sort_by_key(|r| format!("{r:?}"));
    let mut expected = vec![
        (
            "tcp".to_string(),
            json!(443),
            json!(443),
            json!("0.0.0.0/0"),
        ),
        ("udp".to_string(), json!(53), json!(53), vpc_cidr.clone()),
        ("tcp".to_string(), json!(53), json!(53), vpc_cidr.clone()),
    ];
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(always, expected);

    // The one way to widen it: a rule that exists only when TaskExtraEgressPorts is given.
    assert_eq!(conditional.len(), 1, "{conditional:?}");
    let (condition, rule) = &conditional[0];
    assert_eq!(
        t["Conditions"][condition],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "TaskExtraEgressPorts"}, ""]}]})
    );
    assert_eq!(rule["IpProtocol"], "tcp");
    assert_eq!(rule["CidrIp"], json!({"Ref": "TaskExtraEgressCidr"}));
}

/// Fn::Select, Fn::Split, Fn::Join and Ref over parameters, as CloudFormation evaluates them.
fn evaluate(value: &Value, parameters: &BTreeMap<&str, &str>) -> Value {
    let Some((function, arg)) = value.as_object().and_then(|o| o.iter().next()) else {
        return value.clone();
    };
    match function.as_str() {
        "Ref" => json!(parameters[arg.as_str().unwrap()]),
        "Fn::Join" => {
            let parts = evaluate(&arg[1], parameters);
            let parts: Vec<String> = parts
                .as_array()
                .unwrap()
                .iter()
                .map(|p| evaluate(p, parameters).as_str().unwrap().to_string())
                .collect();
            json!(parts.join(arg[0].as_str().unwrap()))
        }
        "Fn::Split" => {
            let text = evaluate(&arg[1], parameters);
            json!(text
                .as_str()
                .unwrap()
                .split(arg[0].as_str().unwrap())
                .collect::<Vec<_>>())
        }
        "Fn::Select" => {
            let list = evaluate(&arg[1], parameters);
            list[arg[0].as_u64().unwrap() as usize].clone()
        }
        other => panic!("{other} is not evaluated here"),
    }
}

#[test]
fn the_extra_egress_ports_read_as_one_port_or_a_range() {
    let t = expanded();
    let rule = &t["Resources"]["TaskExtraEgress"]["Properties"];
    for (given, from, to) in [
        ("5432", "5432", "5432"),
        ("5432-6543", "5432", "6543"),
        ("0-65535", "0", "65535"),
    ] {
        let parameters = BTreeMap::from([("TaskExtraEgressPorts", given)]);
        assert_eq!(
            evaluate(&rule["FromPort"], &parameters),
            json!(from),
            "{given}"
        );
        assert_eq!(evaluate(&rule["ToPort"], &parameters), json!(to), "{given}");
    }
}

#[test]
fn the_vpc_logs_every_flow_to_a_group_with_retention_through_a_role_scoped_to_it() {
    let t = expanded();
    let resources = &t["Resources"];
    let flow_logs: Vec<&Value> = resources
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::EC2::FlowLog")
        .collect();
    assert_eq!(flow_logs.len(), 1);
    let p = &flow_logs[0]["Properties"];
    assert_eq!(p["ResourceType"], "VPC");
    assert_eq!(p["ResourceId"], json!({"Ref": "Vpc"}));
    assert_eq!(p["TrafficType"], "ALL");
    assert_eq!(p["LogDestinationType"], "cloud-watch-logs");

    let group = p["LogGroupName"]["Ref"]
        .as_str()
        .expect("the stack's log group");
    assert_eq!(resources[group]["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        resources[group]["Properties"]["RetentionInDays"],
        json!({"Ref": "FlowLogRetentionDays"})
    );

    let role = p["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the stack's role");
    let role = &resources[role]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"],
        json!({"Service": "vpc-flow-logs.amazonaws.com"})
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"}),
        "only this account's flow logs may use the role"
    );
    let statements: Vec<&Value> = role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    for s in statements {
        let actions: Vec<&str> = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => panic!("{other}"),
        };
        if actions != ["logs:DescribeLogGroups"] {
            assert_eq!(
                s["Resource"],
                json!({"Fn::GetAtt": [group, "Arn"]}),
                "{actions:?}: the flow-log group only"
            );
        }
        assert!(
            actions.iter().all(|a| a.starts_with("logs:")),
            "{actions:?}"
        );
    }
}
