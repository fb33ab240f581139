mod common;

#[tokio::test]
async fn harness_creates_and_reads_a_writer_session() {
    let app = common::spawn_app().await;
    let created = app.writer_create("42", "1000").await;
    assert_eq!(created["document_id"], "42");
    let sid = created["session_id"].as_str().unwrap();
    let info = app
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await;
    assert_eq!(info.assert_ok()["status"], "inactive");
}
