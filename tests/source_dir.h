// The repository root the tests read their data files from (golden files,
// committed images, the shared ECG sample). It lives in one generated source
// file (tests/source_dir.cpp.in) instead of a -D on every test, so that the
// other test objects compile to the same bytes in any checkout and a compiler
// cache shared between checkouts (.ci/run) can reuse them.
#pragma once

namespace ecg::test {
const char* source_dir();
}  // namespace ecg::test

#define ECG_SOURCE_DIR (::ecg::test::source_dir())
