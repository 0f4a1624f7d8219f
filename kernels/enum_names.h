// An enum's names written once, as a table of {value, name} rows, and read
// both ways: name_of() for reports and files, parse_name() for flags and
// files. A table of rows replaces a switch per direction (the switches were
// repeated, case for case, in six places); a value missing from a table
// prints "?" and fails to parse, which the tests of each enum check.
#pragma once
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

namespace ecg {

template <class E>
using EnumName = std::pair<E, const char*>;

template <class E, std::size_t N>
const char* name_of(const EnumName<E> (&table)[N], E value) {
  for (const EnumName<E>& row : table)
    if (row.first == value) return row.second;
  return "?";
}

template <class E, std::size_t N>
bool parse_name(const EnumName<E> (&table)[N], const std::string& name, E& out) {
  for (const EnumName<E>& row : table)
    if (name == row.second) {
      out = row.first;
      return true;
    }
  return false;
}

}  // namespace ecg
