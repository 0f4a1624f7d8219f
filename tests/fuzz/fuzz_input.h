// Shared by the model-file fuzz targets: the loaders read files (by path, or
// by memory map for the int8 model), so each input is written to one scratch
// file per process first. /dev/shm keeps that in memory where it exists.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace ecg::fuzz {

inline std::string scratch_path(const char* name) {
  const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return std::string(dir) + "/ecg_fuzz_" + std::to_string(::getpid()) + "_" + name;
}

inline const std::string& write_input(const char* name, const uint8_t* data, size_t size) {
  static const std::string path = scratch_path(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace ecg::fuzz
