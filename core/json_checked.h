// Numbers read from files' JSON (checkpoint metadata, training state,
// train_config.json, int8 model headers) with their type and range checked.
// nlohmann's get<int>() and get<float>() convert a stored double with
// static_cast, which is undefined behaviour when the value does not fit
// (found by fuzz_train_config: 3e47 as an int); json_int and json_float
// throw an ecg::Error naming the field instead.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/error.h"

namespace ecg {

template <class T>
T json_int(const nlohmann::json& j, const std::string& what) {
  static_assert(std::is_integral<T>::value, "json_int reads integers");
  using L = std::numeric_limits<T>;
  bool ok = false;
  if (j.is_number_unsigned()) {
    ok = j.get<uint64_t>() <= static_cast<uint64_t>(L::max());
  } else if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    ok = L::is_signed ? v >= static_cast<int64_t>(L::min()) &&
                            static_cast<uint64_t>(v < 0 ? 0 : v) <= static_cast<uint64_t>(L::max())
                      : v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(L::max());
  }
  ECG_CHECK(ok, "field '", what, "' is ", j.dump(), ", expected an integer in [", +L::min(), ", ",
            +L::max(), "]");
  return j.is_number_unsigned() ? static_cast<T>(j.get<uint64_t>())
                                : static_cast<T>(j.get<int64_t>());
}

inline double json_double(const nlohmann::json& j, const std::string& what) {
  ECG_CHECK(j.is_number(), "field '", what, "' is ", j.dump(), ", expected a number");
  return j.get<double>();
}

inline float json_float(const nlohmann::json& j, const std::string& what) {
  const double d = json_double(j, what);
  ECG_CHECK(std::fabs(d) <= FLT_MAX, "field '", what, "' is ", j.dump(),
            ", expected a number in the float range");
  return static_cast<float>(d);
}

template <class T>
std::vector<T> json_int_vector(const nlohmann::json& j, const std::string& what) {
  ECG_CHECK(j.is_array(), "field '", what, "' is ", j.dump(), ", expected a list of integers");
  std::vector<T> out;
  for (const auto& v : j) out.push_back(json_int<T>(v, what));
  return out;
}

}  // namespace ecg
