import { wav2vec2Body } from '../http/send-transcript.js';
import type { JobView } from './types.js';

/**
 * The JSON of a job, as `GET /jobs/<id>` answers it and a callback carries it: where it stands,
 * `result` (the body a `/wav2vec2` success would have had) once done, and `error` (the
 * catalogue's shape) once failed or cancelled.
 */
export function jobJson(view: JobView): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: view.id,
    status: view.status,
    position: view.position,
    progress: Math.round(view.progress * 1000) / 1000,
  };
  if (view.status === 'running') {
    // What a progress bar says: windows done of all, and the time left at their pace.
    if (view.windows) Object.assign(body, { windows_done: view.windows.done, windows: view.windows.total });
    if (view.etaSec !== undefined) body.eta_sec = view.etaSec;
  }
  if (view.status === 'done' && view.transcript) {
    // As /wav2vec2 answers history=true: the kept transcript's id beside the result's fields.
    body.result = { ...wav2vec2Body(view.transcript, view.filename ?? 'upload'), ...(view.historyId && { history_id: view.historyId }) };
  }
  if (view.error) body.error = view.error;
  return body;
}
