//! `/api/v1/attachments`: uploading a file (multipart, streamed to the object store) and
//! downloading it or its thumbnail.

mod download;
mod upload_form;

use poem::{web::Data, Request};
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use self::{
    download::{Download, RangeAsked},
    upload_form::UploadForm,
};
use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{attachments::Attachment, ids::AttachmentId},
        services::attachments,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The attachment routes.
#[derive(Default)]
pub struct AttachmentsApi;

#[derive(ApiResponse)]
enum Uploaded {
    /// Stored; send it with a message (`attachments: [id]`) within 24 hours, or it is deleted.
    #[oai(status = 201)]
    Created(Json<Attachment>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Attachments")]
impl AttachmentsApi {
    /// Upload a file: `multipart/form-data` with one part `file` (with its file name). Its type
    /// is told from its bytes; images get their size and a thumbnail. At most
    /// `ATTACHMENT_MAX_BYTES` (413 `too_large` beyond), within the uploader's
    /// `ATTACHMENT_QUOTA_BYTES`.
    #[oai(
        path = "/attachments",
        method = "post",
        operation_id = "uploadAttachment"
    )]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        form: UploadForm,
    ) -> Result<Uploaded, AppError> {
        let name = form.file_name();
        let attachment =
            attachments::upload(&state, auth.0.user_id, name, form.into_reader()).await?;
        Ok(Uploaded::Created(Json(attachment)))
    }

    /// Download a file: its uploader (before it is sent), or anyone who can read a message
    /// carrying it. `Range: bytes=…` gets 206 with that part. Anyone else gets 404, as for a
    /// missing id.
    #[oai(
        path = "/attachments/:attachment_id",
        method = "get",
        operation_id = "downloadAttachment"
    )]
    async fn download(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        request: &Request,
        attachment_id: Path<AttachmentId>,
    ) -> Result<Download, AppError> {
        let record = attachments::readable(&state, auth.0.user_id, attachment_id.0).await?;
        let size = u64::try_from(record.size).unwrap_or(0);
        match RangeAsked::of(request, size) {
            RangeAsked::Unsatisfiable => Ok(download::unsatisfiable(size)),
            RangeAsked::Part(range) => {
                let blob = attachments::read(&state, &record, Some(range)).await?;
                Ok(download::part(&record, blob))
            }
            RangeAsked::Whole => {
                let blob = attachments::read(&state, &record, None).await?;
                Ok(download::whole(&record, blob))
            }
        }
    }

    /// An image's thumbnail (`image/jpeg`, longest side at most 320 px); 404 when it has none.
    #[oai(
        path = "/attachments/:attachment_id/thumbnail",
        method = "get",
        operation_id = "downloadAttachmentThumbnail"
    )]
    async fn thumbnail(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        attachment_id: Path<AttachmentId>,
    ) -> Result<Download, AppError> {
        let record = attachments::readable(&state, auth.0.user_id, attachment_id.0).await?;
        let blob = attachments::read_thumbnail(&state, &record).await?;
        Ok(download::thumbnail(blob))
    }
}
