export { MllpListener, acceptParsable, defaultReply, type MllpInbound, type MllpHandler, type MllpReply, type MllpListenerOptions, type MllpListenerStats, type MllpTlsOptions } from './listener.js';
export { MllpSender, MllpSendError, errorText, type AckResult, type MllpSenderOptions } from './sender.js';
export { MllpDecoder, FrameTooLargeError, frame, DEFAULT_MAX_FRAME_BYTES, VT, FS, CR } from './framing.js';
