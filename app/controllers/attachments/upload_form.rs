//! The body of an upload: `multipart/form-data` whose part `file` is read as a stream, never
//! buffered (poem-openapi's own multipart types collect a whole file first). The OpenAPI
//! document describes it as a form with one binary field, which Swagger UI shows as a file
//! picker.

use poem::{
    web::{Field, Multipart},
    FromRequest, Request, RequestBody,
};
use poem_openapi::{
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
};
use tokio::io::AsyncRead;

use crate::pkg::utils::errors::AppError;

/// The name of the part that holds the file.
const FILE_PART: &str = "file";

/// An upload's `file` part, not read yet.
pub struct UploadForm {
    field: Field,
}

impl UploadForm {
    /// The file name the client gave, if any.
    pub fn file_name(&self) -> Option<String> {
        self.field.file_name().map(str::to_owned)
    }

    /// The file's bytes, as they arrive.
    pub fn into_reader(self) -> impl AsyncRead + Unpin + Send + 'static {
        Box::pin(self.field.into_async_read())
    }
}

fn refused(reason: impl std::fmt::Display) -> poem::Error {
    AppError::BadRequest(format!(
        "file: the body must be multipart/form-data with one part named file ({reason})"
    ))
    .into()
}

impl<'a> ApiExtractor<'a> for UploadForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let mut file = MetaSchema::new_with_format("string", "binary");
        file.description = Some("The file, with its file name.");
        let mut form = MetaSchema::new("object");
        form.properties = vec![(FILE_PART, MetaSchemaRef::Inline(Box::new(file)))];
        form.required = vec![FILE_PART];
        Some(MetaRequest {
            description: Some("One part `file`: the file to upload, with its file name."),
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: MetaSchemaRef::Inline(Box::new(form)),
            }],
            required: true,
        })
    }

    fn register(_registry: &mut Registry) {}

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_multipart = request.content_type().is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        if !is_multipart {
            return Err(refused("Content-Type is not multipart/form-data"));
        }
        let mut form = <Multipart as FromRequest>::from_request(request, body)
            .await
            .map_err(refused)?;
        match form.next_field().await.map_err(refused)? {
            Some(field) if field.name() == Some(FILE_PART) => Ok(Self { field }),
            Some(_) => Err(refused("the first part is not named file")),
            None => Err(refused("it has no part")),
        }
    }
}
