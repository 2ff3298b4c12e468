//! The image to the device's `POST /api/update`. The device may reset
//! before its reply leaves, so a reply lost on the way is not a failure
//! (the wait for the new version decides); a refusal with the device's
//! message is, and so is a device that cannot be reached at all.

use super::multipart::{Form, Progress};
use super::FlashError;
use crate::ingest::forward::RELAY_FAILURE_HEADER;

pub(super) async fn upload(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    image: &[u8],
    progress: Progress,
) -> Result<(), FlashError> {
    let form = Form::new().file("file", "firmware.bin", image);
    let content_type = form.content_type();
    let (body, len) = form.into_body(progress);
    let mut request = client
        .post(format!("{}/api/update", url.trim_end_matches('/')))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header(reqwest::header::CONTENT_LENGTH, len)
        .body(body);
    if let Some((user, pass)) = auth.and_then(|a| a.split_once(':')) {
        request = request.basic_auth(user, Some(pass));
    }
    let unreachable = |detail: String| FlashError::Unreachable {
        url: url.to_owned(),
        detail,
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            // An answer the agent relay made because the device gave none.
            let relayed = response
                .headers()
                .get(RELAY_FAILURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            match relayed.as_deref() {
                Some("unreachable") => Err(unreachable(body)),
                Some(_) => {
                    tracing::info!(detail = %body, "no reply to the upload; the device may be rebooting");
                    Ok(())
                }
                None => Err(FlashError::Refused {
                    status: status.as_u16(),
                    message: serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_owned))
                        .unwrap_or(body),
                }),
            }
        }
        Err(e) if e.is_connect() => Err(unreachable(e.to_string())),
        Err(e) if e.is_request() || e.is_body() => {
            tracing::info!(error = %e, "no reply to the upload; the device may be rebooting");
            Ok(())
        }
        Err(e) => Err(FlashError::Upload {
            url: url.to_owned(),
            detail: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    /// A device (or the relay in front of one) that answers every upload
    /// with `status`, `header` and `body`; its URL.
    async fn answering(status: u16, header: Option<&'static str>, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(move || async move {
            let status = StatusCode::from_u16(status).expect("status");
            let mut response = (status, body).into_response();
            if let Some(value) = header {
                response.headers_mut().insert(
                    RELAY_FAILURE_HEADER,
                    axum::http::HeaderValue::from_static(value),
                );
            }
            response
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn upload_to(url: &str) -> Result<(), FlashError> {
        let client = crate::tls::client_builder().build().expect("client");
        upload(&client, url, None, b"image", Progress::none()).await
    }

    #[tokio::test]
    async fn the_relay_s_own_answers_are_told_from_a_device_s_refusal() {
        let no_reply = answering(502, Some("no-reply"), "agent a: connection closed").await;
        assert!(
            upload_to(&no_reply).await.is_ok(),
            "a reset before the reply"
        );
        let unreachable = answering(502, Some("unreachable"), "agent a: cannot connect").await;
        assert!(matches!(
            upload_to(&unreachable).await,
            Err(FlashError::Unreachable { .. })
        ));
        let refused = answering(
            400,
            None,
            r#"{"success": false, "message": "Only .bin files are supported"}"#,
        )
        .await;
        match upload_to(&refused).await {
            Err(FlashError::Refused { status, message }) => {
                assert_eq!(
                    (status, message.as_str()),
                    (400, "Only .bin files are supported")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
