//! Custom::Repository against moto.

use local_harness::world::World;
use serde_json::json;

const TYPE: &str = "Custom::Repository";

async fn repository_exists(w: &World, name: &str) -> bool {
    w.clients
        .ecr()
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn create_update_and_delete() {
    let w = World::new().await;
    let props = w.repository_props();
    let name = props["RepositoryName"].as_str().unwrap().to_string();

    let created = w.create(TYPE, "AppRepository", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    assert_eq!(created.physical_id, name);
    assert_eq!(created.data("RepositoryName"), name);
    assert!(created
        .data("RepositoryArn")
        .ends_with(&format!("repository/{name}")));
    assert!(created
        .data("RepositoryUri")
        .ends_with(&format!(".amazonaws.com/{name}")));
    let repo = w
        .clients
        .ecr()
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
        .unwrap();
    let repo = &repo.repositories()[0];
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(repo.image_tag_mutability().unwrap().as_str(), "MUTABLE");
    let tags = w
        .clients
        .ecr()
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "skyhigh:keep-images" && t.value() == "10"));

    // In place: same name, new settings.
    let new = json!({"RepositoryName": name, "ScanOnPush": false, "ImageTagMutability": "IMMUTABLE", "KeepImages": 20});
    let updated = w.update(TYPE, "AppRepository", &name, &props, &new).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(updated.physical_id, name, "an in-place update keeps the id");
    let repo = w
        .clients
        .ecr()
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
        .unwrap();
    let repo = &repo.repositories()[0];
    // ScanOnPush false is not checked here: the SDK omits a false flag (ECR's default) and moto
    // then keeps the old value. The plan's unit tests cover that the change is sent.
    assert_eq!(repo.image_tag_mutability().unwrap().as_str(), "IMMUTABLE");
    let tags = w
        .clients
        .ecr()
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "skyhigh:keep-images" && t.value() == "20"));

    // Rollback: CloudFormation updates back to the old properties.
    let rolled_back = w.update(TYPE, "AppRepository", &name, &new, &props).await;
    assert!(rolled_back.is_success(), "{}", rolled_back.reason);
    let repo = w
        .clients
        .ecr()
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        repo.repositories()[0]
            .image_tag_mutability()
            .unwrap()
            .as_str(),
        "MUTABLE"
    );

    let deleted = w.delete(TYPE, "AppRepository", &name, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(!repository_exists(&w, &name).await);
}

#[tokio::test]
async fn a_new_name_replaces_and_the_old_one_goes_on_cleanup() {
    let w = World::new().await;
    let old = w.repository_props();
    let old_name = old["RepositoryName"].as_str().unwrap().to_string();
    let new = json!({"RepositoryName": w.name("renamed")});
    w.create(TYPE, "AppRepository", &old).await;
    let replaced = w.update(TYPE, "AppRepository", &old_name, &old, &new).await;
    assert!(replaced.is_success(), "{}", replaced.reason);
    assert_eq!(
        replaced.physical_id,
        w.name("renamed"),
        "a replacement answers a new id"
    );
    assert!(repository_exists(&w, &w.name("renamed")).await);
    assert!(
        repository_exists(&w, &old_name).await,
        "the old one waits for CloudFormation's Delete"
    );
    let cleanup = w.delete(TYPE, "AppRepository", &old_name, &old).await;
    assert!(cleanup.is_success());
    assert!(!repository_exists(&w, &old_name).await);
}

#[tokio::test]
async fn a_repeated_create_adopts_what_the_first_made() {
    let w = World::new().await;
    let props = w.repository_props();
    let first = w.create(TYPE, "AppRepository", &props).await;
    let again = w.create(TYPE, "AppRepository", &props).await;
    assert!(again.is_success(), "{}", again.reason);
    assert_eq!(again.physical_id, first.physical_id);
    assert_eq!(again.data, first.data);
}

#[tokio::test]
async fn a_repository_with_images_is_retained_unless_asked_to_empty_it() {
    let w = World::new().await;
    let props = w.repository_props();
    let name = props["RepositoryName"].as_str().unwrap().to_string();
    w.create(TYPE, "AppRepository", &props).await;
    w.push_image(&name, "latest", 1).await;

    let kept = w.delete(TYPE, "AppRepository", &name, &props).await;
    assert!(
        kept.is_success(),
        "a stack delete is not blocked: {}",
        kept.reason
    );
    assert!(kept.reason.contains("retained"), "{}", kept.reason);
    assert!(repository_exists(&w, &name).await);

    let emptying = json!({"RepositoryName": name, "EmptyOnDelete": true});
    let gone = w.delete(TYPE, "AppRepository", &name, &emptying).await;
    assert!(gone.is_success(), "{}", gone.reason);
    assert!(!repository_exists(&w, &name).await);
}

#[tokio::test]
async fn deleting_what_was_never_created_succeeds() {
    let w = World::new().await;
    let props = w.repository_props();
    let name = props["RepositoryName"].as_str().unwrap();
    let gone = w.delete(TYPE, "AppRepository", name, &props).await;
    assert!(gone.is_success(), "{}", gone.reason);
    // The id a failed Create answered, and an id CloudFormation generated for an in-flight Create.
    for id in [
        "not-created:AppRepository:abc",
        "stack-AppRepository-1X2Y3Z",
    ] {
        let gone = w.delete(TYPE, "AppRepository", id, &props).await;
        assert!(gone.is_success(), "{id}: {}", gone.reason);
        assert_eq!(gone.physical_id, id);
    }
}

/// A Create request of this world's stack, as another stack (another StackId) would send it.
fn as_other_stack(w: &World, props: &serde_json::Value) -> local_harness::cfn::Pending {
    let mut p = w
        .cfn
        .request("Create", TYPE, "Repository", props, None, None);
    p.event["StackId"] =
        json!("arn:aws:cloudformation:us-east-1:123456789012:stack/other/11111111-2222-3333-4444-555555555555");
    p
}

#[tokio::test]
async fn a_repository_this_stack_did_not_make_is_refused_and_survives() {
    let w = World::new().await;
    // Made by hand: no ownership tags.
    let name = w.name("by-hand");
    w.clients
        .ecr()
        .create_repository()
        .repository_name(&name)
        .send()
        .await
        .unwrap();
    let props = json!({"RepositoryName": name, "EmptyOnDelete": "true"});
    let refused = w.create(TYPE, "Repository", &props).await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains(&format!("ECR repository {name}"))
            && refused.reason.contains("RepositoryName"),
        "{}",
        refused.reason
    );
    assert!(
        refused.physical_id.starts_with("not-created:"),
        "so the rollback touches nothing"
    );
    // A Delete that names it (a stack that once adopted it) leaves it alone, even EmptyOnDelete.
    let deleted = w.delete(TYPE, "Repository", &name, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(
        deleted.reason.contains("left it alone"),
        "{}",
        deleted.reason
    );
    assert!(repository_exists(&w, &name).await);

    // Another stack's repository (made by the provisioner for that stack) is refused too.
    let theirs = w.name("theirs");
    let props = json!({"RepositoryName": theirs});
    let made = w.send(&as_other_stack(&w, &props)).await;
    assert!(made.is_success(), "{}", made.reason);
    let refused = w.create(TYPE, "Repository", &props).await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains("stack/other/"),
        "{}",
        refused.reason
    );
    let update = w
        .update(
            TYPE,
            "Repository",
            &theirs,
            &props,
            &json!({"RepositoryName": theirs, "ScanOnPush": "false"}),
        )
        .await;
    assert_eq!(update.status, "FAILED", "an Update never touches it either");
    let out = w
        .clients
        .ecr()
        .describe_repositories()
        .repository_names(&theirs)
        .send()
        .await
        .unwrap();
    assert!(out.repositories()[0]
        .image_scanning_configuration()
        .unwrap()
        .scan_on_push());
}

#[tokio::test]
async fn what_the_provisioner_makes_carries_the_stack_and_logical_id() {
    let w = World::new().await;
    let made = w.create(TYPE, "Repository", &w.repository_props()).await;
    assert!(made.is_success(), "{}", made.reason);
    let tags = w
        .clients
        .ecr()
        .list_tags_for_resource()
        .resource_arn(made.data("RepositoryArn"))
        .send()
        .await
        .unwrap();
    let tag = |k: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    assert_eq!(tag("skyhigh:stack-id"), Some(w.cfn.stack_id.clone()));
    assert_eq!(tag("skyhigh:logical-id").as_deref(), Some("Repository"));
    assert_eq!(tag("skyhigh:keep-images").as_deref(), Some("10"));
}
