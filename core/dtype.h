// Element types a Tensor can hold. f16 is storage only (converted on use).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ecg {

enum class DType : uint8_t { F32 = 0, F64 = 1, F16 = 2, I8 = 3, U8 = 4, I32 = 5 };

// Size in bytes and printed name of each dtype, indexed by its enum value.
struct DTypeInfo {
  size_t size;
  const char* name;
};
inline constexpr DTypeInfo kDTypeInfo[] = {{4, "f32"}, {8, "f64"}, {2, "f16"},
                                           {1, "i8"},  {1, "u8"},  {4, "i32"}};
inline constexpr size_t kNumDTypes = sizeof kDTypeInfo / sizeof kDTypeInfo[0];

constexpr size_t dtype_size(DType t) {
  return static_cast<size_t>(t) < kNumDTypes ? kDTypeInfo[static_cast<size_t>(t)].size : 0;
}

constexpr const char* dtype_name(DType t) {
  return static_cast<size_t>(t) < kNumDTypes ? kDTypeInfo[static_cast<size_t>(t)].name : "?";
}

// dtype_of<T>::value: the dtype of the C++ element types a tensor can be read
// as (f16 has none: it is converted on use). Undefined for any other type.
template <class T>
struct dtype_of;
#define ECG_DTYPE_OF(T, D)                   \
  template <>                                \
  struct dtype_of<T> {                       \
    static constexpr DType value = DType::D; \
  };
ECG_DTYPE_OF(float, F32)
ECG_DTYPE_OF(double, F64)
ECG_DTYPE_OF(int8_t, I8)
ECG_DTYPE_OF(uint8_t, U8)
ECG_DTYPE_OF(int32_t, I32)
#undef ECG_DTYPE_OF

// IEEE half <-> float, round-to-nearest-even; used for f16 storage.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace ecg
