'use strict';
// Loads the compiled addon (built by `node-gyp rebuild` during install).
const path = require('node:path');

const candidates = [
  path.join(__dirname, 'build', 'Release', 'flotilla_native.node'),
  path.join(__dirname, 'build', 'Debug', 'flotilla_native.node'),
];
let binding;
let lastError;
for (const file of candidates) {
  try {
    binding = require(file);
    break;
  } catch (error) {
    lastError = error;
  }
}
if (!binding) {
  const error = new Error(
    '@flotilla/native is not built: run `pnpm install` (or `pnpm --filter @flotilla/native build`); ' +
      'it needs g++, make, python3 and the Node headers. Cause: ' + (lastError && lastError.message),
  );
  error.code = 'NATIVE_NOT_BUILT';
  throw error;
}
module.exports = binding;
