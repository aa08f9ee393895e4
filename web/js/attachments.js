// Attachments (docs/api.md, "Attachments"): uploading a file with its progress, and showing the
// attachments of a message.
//
// Attachment routes need the `Authorization` header, which an `<img src>` cannot send, so images
// and media are fetched with it and shown from a `blob:` URL (the page's CSP allows `blob:` for
// images and media only). Thumbnails are fetched once per page; full-size files only when asked
// for (a click), as are downloads.

import { ApiError } from './api.js';
import { h } from './views/dom.js';

const thumbnails = new Map(); // attachment id -> Promise<object URL>

/** Uploads one file; `onProgress(fraction)` while it goes. Resolves to the `Attachment`. */
export async function upload(api, file, onProgress) {
  const token = await api.accessToken();
  const form = new FormData();
  form.append('file', file, file.name || 'pasted-file');
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/attachments');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let payload = null;
      try { payload = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) resolve(payload);
      else reject(new ApiError(xhr.status, payload?.code ?? 'error', payload?.message ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed (connection lost)'));
    xhr.send(form);
  });
}

/** "2.4 MB" */
export function sizeLabel(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The attachments of a message, or null when it has none. */
export function attachmentsOf(chat, attachments) {
  if (!attachments.length) return null;
  return h('span', { class: 'attachments' }, ...attachments.map((a) => one(chat, a)));
}

function one(chat, attachment) {
  const label = `${attachment.name} (${sizeLabel(attachment.size)})`;
  if (attachment.kind === 'image' && attachment.has_thumbnail) {
    const img = h('img', {
      alt: attachment.name, class: 'thumbnail', dataset: { testid: 'attachment' },
      width: attachment.width && Math.min(attachment.width, 240), title: `${label} — click for full size`,
    });
    thumbnail(chat, attachment).then((url) => { img.src = url; }).catch(() => { img.alt = `${attachment.name} (unavailable)`; });
    const button = h('button', {
      type: 'button', class: 'image-link', 'aria-label': `Open ${attachment.name} full size`,
      onclick: () => openFull(chat, attachment),
    }, img);
    return button;
  }
  if (attachment.kind === 'audio' || attachment.kind === 'video') {
    const media = h(attachment.kind, { controls: true, preload: 'none', 'aria-label': label });
    const load = h('button', {
      type: 'button', class: 'secondary', dataset: { testid: 'attachment' },
      onclick: async () => {
        try {
          media.src = URL.createObjectURL(await chat.api.blob(`/attachments/${attachment.id}`));
          load.replaceWith(media);
          media.play().catch(() => {});
        } catch (err) { chat.tell(err); }
      },
    }, `▶ ${attachment.kind === 'audio' ? 'Play' : 'Watch'} ${label}`);
    return load;
  }
  return h('a', {
    href: `/api/v1/attachments/${attachment.id}`, class: 'file', dataset: { testid: 'attachment' },
    download: attachment.name,
    onclick: async (event) => {
      event.preventDefault();
      try {
        const url = URL.createObjectURL(await chat.api.blob(`/attachments/${attachment.id}`));
        const a = h('a', { href: url, download: attachment.name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      } catch (err) { chat.tell(err); }
    },
  }, `📎 ${label}`);
}

function thumbnail(chat, attachment) {
  let url = thumbnails.get(attachment.id);
  if (!url) {
    url = chat.api.blob(`/attachments/${attachment.id}/thumbnail`).then((blob) => URL.createObjectURL(blob));
    url.catch(() => thumbnails.delete(attachment.id));
    thumbnails.set(attachment.id, url);
  }
  return url;
}

/** Full size in a modal dialog (Escape or the button closes it). */
async function openFull(chat, attachment) {
  try {
    const url = URL.createObjectURL(await chat.api.blob(`/attachments/${attachment.id}`));
    const dialog = h('dialog', { class: 'lightbox', 'aria-label': attachment.name },
      h('img', { src: url, alt: attachment.name }),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Close'));
    dialog.addEventListener('close', () => { dialog.remove(); URL.revokeObjectURL(url); });
    document.body.append(dialog);
    dialog.showModal();
  } catch (err) {
    chat.tell(err);
  }
}
