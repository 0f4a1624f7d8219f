#include "kernels/op_table.h"

#include <mutex>

namespace ecg {

OpTable::OpTable() {
#define ECG_NAME_SLOT(op, Fn) op.name = #op;
  ECG_OP_LIST(ECG_NAME_SLOT)
#undef ECG_NAME_SLOT
}

OpTable& ops() {
  static OpTable table;
  static std::once_flag once;
  std::call_once(once, [] { register_all_kernels(table); });
  return table;
}

}  // namespace ecg
