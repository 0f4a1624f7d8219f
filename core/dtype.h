// Element types a Tensor can hold. f16 is storage only (converted on use).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ecg {

enum class DType : uint8_t { F32 = 0, F64 = 1, F16 = 2, I8 = 3, U8 = 4, I32 = 5 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::F16:
      return 2;
    case DType::I8:
      return 1;
    case DType::U8:
      return 1;
    case DType::I32:
      return 4;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F64:
      return "f64";
    case DType::F16:
      return "f16";
    case DType::I8:
      return "i8";
    case DType::U8:
      return "u8";
    case DType::I32:
      return "i32";
  }
  return "?";
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::F64;
};
template <>
struct dtype_of<int8_t> {
  static constexpr DType value = DType::I8;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::U8;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::I32;
};

// IEEE half <-> float, round-to-nearest-even; used for f16 storage.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace ecg
