// CRC32C (Castagnoli), with the SSE4.2 instruction when the CPU has it and a table fallback.
#pragma once
#include <cstddef>
#include <cstdint>

namespace flotilla {

// Continues a CRC32C: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b).
uint32_t crc32c(uint32_t crc, const uint8_t* data, size_t len);
// True when the hardware instruction is used.
bool crc32cHardware();

}  // namespace flotilla
