//! The two store backends keep one schema: the same numbered migrations in
//! SQLite's and PostgreSQL's dialect, building the same tables and columns.

use std::collections::BTreeSet;
use std::path::Path;

use heaplab::store::Store;
use sqlx::Connection;

use crate::helpers::*;

fn migration_names(dir: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_dialects_have_the_same_numbered_migrations() {
    let sqlite = migration_names("migrations");
    let postgres = migration_names("migrations/postgres");
    assert!(sqlite.len() >= 8, "{sqlite:?}");
    assert_eq!(sqlite, postgres);
}

#[tokio::test]
async fn both_dialects_build_the_same_tables_and_columns() {
    let Some(_) = postgres_base() else {
        eprintln!("needs PostgreSQL (HEAPLAB_TEST_DB): compares its schema with SQLite's");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let sqlite_path = dir.path().join("schema.db");
    Store::open(&sqlite_path)
        .await
        .expect("sqlite")
        .close()
        .await;
    let pg_url = test_db(dir.path(), "schema-pg");
    Store::open(&pg_url).await.expect("postgres").close().await;

    let mut sqlite = sqlx::SqliteConnection::connect(&format!("sqlite:{}", sqlite_path.display()))
        .await
        .expect("sqlite");
    let sqlite_columns: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut sqlite)
    .await
    .expect("sqlite columns")
    .into_iter()
    .collect();
    let url = heaplab::store::postgres_url(&pg_url).expect("url");
    let mut pg = sqlx::PgConnection::connect(url).await.expect("postgres");
    let pg_columns: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut pg)
    .await
    .expect("postgres columns")
    .into_iter()
    .collect();
    assert!(sqlite_columns.len() > 50, "{sqlite_columns:?}");
    assert_eq!(sqlite_columns, pg_columns);
}
