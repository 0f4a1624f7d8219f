// Whole-file reads and atomic writes used by the decoders, encoders and the
// dataset cache. Atomic = write a temporary file in the same directory, flush
// it to disk, then rename() over the destination, so a reader never sees a
// half-written file and a crash leaves the old file intact.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ecg::data {

// Reads the whole file; throws ecg::Error naming `path` if it cannot be opened
// or read (missing, directory, permission denied).
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Writes `size` bytes to `path` atomically; throws ecg::Error naming `path`.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// Removes the temporaries `path`.tmp.<pid>.<n> that writers killed before
// their rename left behind (a 7 MB checkpoint each), when process <pid> no
// longer exists; returns how many. Checkpoint, state and model writers call
// it; the dataset cache does not (one directory scan per cached image would
// cost more than the stray files).
int remove_stale_temporaries(const std::string& path);

}  // namespace ecg::data
