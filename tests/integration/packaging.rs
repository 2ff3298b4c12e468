//! No Docker engine runs on our machines, so the packaging is checked by
//! reading it: the compose file has the service, port, volume and
//! healthcheck the README describes, and the Dockerfile agrees.

use serde_yaml::Value;

fn root(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect(file)
}

#[test]
fn compose_file_has_service_port_volume_and_healthcheck() {
    let compose: Value = serde_yaml::from_str(&root("docker-compose.yml")).expect("valid YAML");
    let service = &compose["services"]["heaplab"];
    assert!(service.is_mapping(), "a heaplab service");
    let ports: Vec<&str> = service["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ports.contains(&"8080:8080"));
    let volumes: Vec<&str> = service["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(volumes.contains(&"heaplab-data:/data"));
    assert!(
        compose["volumes"]["heaplab-data"].is_null()
            || compose["volumes"]["heaplab-data"].is_mapping()
    );
    assert_eq!(service["environment"]["HEAPLAB_DB"], "/data/heaplab.db");
    let test: Vec<&str> = service["healthcheck"]["test"]
        .as_sequence()
        .expect("healthcheck")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(test.iter().any(|t| t.contains("/healthz")));
    // `docker compose up` on a fresh checkout: every bind-mounted host
    // path exists in the repository (Docker would create a missing one as
    // a directory, and a file mount of it then fails), and no host device
    // is required (compose refuses to start without it).
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for volume in &volumes {
        let source = volume.split(':').next().unwrap_or_default();
        if source.starts_with('.') || source.starts_with('/') {
            assert!(
                repo.join(source).exists(),
                "bind mount {source} is not in the repo"
            );
        }
    }
    assert!(
        service["devices"].is_null(),
        "a device line breaks compose on a host without it"
    );
    // Access: bind beyond loopback, so a token is made on first start or
    // taken from the environment.
    assert_eq!(service["environment"]["HEAPLAB_BIND"], "0.0.0.0:8080");
    assert!(service["environment"]["HEAPLAB_AUTH_TOKEN"]
        .as_str()
        .is_some_and(|v| v.contains("${HEAPLAB_AUTH_TOKEN")));
    assert!(!service["environment"]["HEAPLAB_INSECURE_NO_AUTH"].is_string());

    // The `postgres` profile: a shared store for several servers, started
    // only when asked for (`docker compose --profile postgres up`).
    let postgres = &compose["services"]["postgres"];
    assert!(postgres.is_mapping(), "a postgres service");
    let profiles: Vec<&str> = postgres["profiles"]
        .as_sequence()
        .expect("profiles")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(profiles, ["postgres"], "not started by a plain `up`");
    assert!(
        compose["volumes"]["heaplab-pg"].is_null() || compose["volumes"]["heaplab-pg"].is_mapping()
    );
    assert!(
        service["depends_on"].is_null(),
        "heaplab starts without postgres"
    );

    let readme = root("README.md");
    assert!(
        readme.contains("docker compose up"),
        "the README explains compose"
    );
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_volume_and_healthcheck() {
    let dockerfile = root("Dockerfile");
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")) >= 2
            || dockerfile.matches("FROM ").count() >= 2
    );
    assert!(dockerfile.contains("USER heaplab"));
    assert!(dockerfile.contains("VOLUME [\"/data\"]"));
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("/healthz"));
    assert!(dockerfile.contains("EXPOSE 8080"));
    assert!(
        dockerfile.contains("HEAPLAB_FIRST_TOKEN=true"),
        "the image makes and prints a token on first start"
    );
}
