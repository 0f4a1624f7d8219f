#include "core/collective.h"

#include <cstdlib>

namespace ecg {

namespace {
std::unique_ptr<Collective>& installed() {
  static std::unique_ptr<Collective> c = std::make_unique<Collective>();
  return c;
}
bool g_sync_bn = false;
}  // namespace

void Collective::abort(int code) {
  std::exit(code);
}

Collective& collective() {
  return *installed();
}

std::unique_ptr<Collective> set_collective(std::unique_ptr<Collective> c) {
  std::unique_ptr<Collective> previous = std::move(installed());
  installed() = c ? std::move(c) : std::make_unique<Collective>();
  return previous;
}

bool sync_batch_norm_enabled() {
  return g_sync_bn;
}
void set_sync_batch_norm(bool on) {
  g_sync_bn = on;
}

}  // namespace ecg
