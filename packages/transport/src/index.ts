export * as wire from './generated/frame_generated.js';
