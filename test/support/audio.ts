/** The tone model's audio in the formats users send; shared with bench/ through testkit/. */
export { ffmpegFile, FORMATS, speech, transcode, type Format } from '../../testkit/speech.js';
