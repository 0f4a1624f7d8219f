// Process-wide runtime settings: the thread count used by every kernel's one
// outer parallel loop (from --threads; default all cores).
#pragma once

namespace ecg {

int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (all cores)
int hardware_threads();

}  // namespace ecg
