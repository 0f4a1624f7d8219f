// Checks shared by the tests of damaged files (int8 models, checkpoints): the
// message of a load that must fail, and that it is one line naming the file
// and the field.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "kernels/error.h"

namespace ecg::testing {

// The message of the Error that load(path) throws; a test failure when it loads.
template <class Load>
std::string load_error_of(Load load, const std::string& path) {
  try {
    load(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded " << path;
  return "";
}

}  // namespace ecg::testing

// msg names the file and the field, on one line.
#define EXPECT_NAMES(msg, file, field)                                 \
  do {                                                                 \
    const std::string m_ = (msg);                                      \
    EXPECT_NE(m_.find(file), std::string::npos) << m_;                 \
    EXPECT_NE(m_.find(field), std::string::npos) << m_;                \
    EXPECT_EQ(m_.find('\n'), std::string::npos) << "one line: " << m_; \
  } while (0)
