#include "quant/row_tiling.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "kernels/error.h"
#include "kernels/runtime.h"
#include "quant/int8_model.h"

namespace ecg::quant {

namespace {

// Input rows [lo, hi) that output rows [p0, p1) of conv `s` read (clipped to the image).
int in_lo(const Conv2dShape& s, int p0) {
  return std::max(0, p0 * s.stride_h - s.pad_top);
}
int in_hi(const Conv2dShape& s, int p1) {
  return std::min(s.H, (p1 - 1) * s.stride_h - s.pad_top + s.R);
}

// Consumers of tensor t among nodes [first, last] and after last.
void consumers(const Int8Model& m, int t, int first, int last, bool& inside, bool& after) {
  inside = after = false;
  for (int i = first; i < static_cast<int>(m.nodes.size()); ++i)
    for (int in : m.nodes[i].inputs)
      if (in == t) (i <= last ? inside : after) = true;
}

}  // namespace

RowTilingOptions RowTilingOptions::per_thread() {
  RowTilingOptions o;
  o.slabs = num_threads();
  if (const char* e = std::getenv("ECG_INT8_ROW_TILING")) {
    const std::string v = e;
    if (v == "off") return off();
    char* end = nullptr;
    const long rows = std::strtol(v.c_str(), &end, 10);
    ECG_CHECK(!v.empty() && *end == '\0' && rows >= 1 && rows <= 4096,
              "ECG_INT8_ROW_TILING must be 'off' or a band height in rows, got '", v, "'");
    o.band_rows = static_cast<int>(rows);
  }
  return o;
}

int RowGroup::index_of(int tensor) const {
  auto it = std::find(windowed.begin(), windowed.end(), tensor);
  return it == windowed.end() ? -1 : static_cast<int>(it - windowed.begin());
}

bool valid_row_group(const Int8Model& m, int first, int last) {
  if (first < 0 || last < first || last >= static_cast<int>(m.nodes.size())) return false;
  for (int i = first; i <= last; ++i) {
    const NodeQ& n = m.nodes[i];
    if (n.kind != NodeKind::Conv || n.run_float || n.output < 0 ||
        n.conv.output != int8::OutputMode::Int8 || n.inputs.size() != (n.conv.residual ? 2u : 1u))
      return false;
  }
  for (int i = first; i <= last; ++i) {
    bool inside, after;
    consumers(m, m.nodes[i].output, first, last, inside, after);
    if (inside && after) return false;  // it would have to be whole and banded at once
  }
  return true;
}

RowGroup make_row_group(const Int8Model& m, int first, int last, int slabs, int band_rows) {
  ECG_CHECK(valid_row_group(m, first, last), "row tiling: nodes ", first, "..", last,
            " cannot run as a group");
  ECG_CHECK(slabs >= 1 && band_rows >= 1, "row tiling: ", slabs, " slabs of ", band_rows, " rows");
  RowGroup g;
  g.first = first, g.last = last, g.slabs = slabs, g.band_rows = band_rows;
  for (int i = first; i <= last; ++i) {
    bool inside, after;
    consumers(m, m.nodes[i].output, first, last, inside, after);
    if (inside) g.windowed.push_back(m.nodes[i].output);
  }
  std::vector<int> rows(g.windowed.size(), 0);
  for (int k = 0; k < slabs; ++k) {
    RowWalk walk(m, g, k);  // window_rows still empty: a dry walk checks no capacity
    walk.run([](int, int, int) {}, [](int, int) {});
    for (size_t w = 0; w < g.windowed.size(); ++w) rows[w] = std::max(rows[w], walk.peak_rows()[w]);
  }
  g.window_rows = rows;
  for (size_t w = 0; w < g.windowed.size(); ++w) {
    const TensorQ& t = m.tensors[g.windowed[w]];
    g.window_offset.push_back(g.window_bytes);
    const int64_t bytes = static_cast<int64_t>(g.window_rows[w]) * t.W * t.C;
    g.window_bytes += (bytes + 63) / 64 * 64;
  }
  return g;
}

RowWalk::RowWalk(const Int8Model& m, const RowGroup& g, int slab) : m_(m), g_(g) {
  const int nt = static_cast<int>(m.tensors.size());
  start_.assign(nt, 0), done_.assign(nt, 0), w0_.assign(nt, 0), end_.assign(nt, 0);
  produced_.assign(nt, false);
  peak_.assign(g.windowed.size(), 0);
  // The group's outputs: this slab's share of their rows.
  for (int i = g.first; i <= g.last; ++i) {
    const int o = m.nodes[i].output;
    produced_[o] = true;
    if (g.index_of(o) >= 0) {
      start_[o] = INT_MAX, end_[o] = INT_MIN;
      continue;
    }
    const int H = m.tensors[o].H;
    start_[o] = static_cast<int>(static_cast<int64_t>(H) * slab / g.slabs);
    end_[o] = static_cast<int>(static_cast<int64_t>(H) * (slab + 1) / g.slabs);
    steps_ = std::max(steps_, (end_[o] - start_[o] + g.band_rows - 1) / g.band_rows);
  }
  // The rows of every windowed tensor that this slab needs, last layer first.
  for (int i = g.last; i >= g.first; --i) {
    const NodeQ& n = m.nodes[i];
    const int o = n.output;
    if (start_[o] >= end_[o]) continue;
    const int x = n.inputs[0];
    if (g.index_of(x) >= 0) {
      start_[x] = std::min(start_[x], in_lo(n.conv.shape, start_[o]));
      end_[x] = std::max(end_[x], in_hi(n.conv.shape, end_[o]));
    }
    if (n.conv.residual && g.index_of(n.inputs[1]) >= 0) {
      const int r = n.inputs[1];
      start_[r] = std::min(start_[r], start_[o]);
      end_[r] = std::max(end_[r], end_[o]);
    }
  }
  for (int t : g.windowed)
    if (start_[t] >= end_[t]) start_[t] = end_[t] = 0;  // no consumer needs rows of it here
  done_ = start_;
  w0_ = start_;
}

RowWindow RowWalk::window_of(int t) const {
  if (g_.index_of(t) >= 0) return {w0_[t], done_[t] - w0_[t]};
  return {0, m_.tensors[t].H};
}

void RowWalk::run(const std::function<void(int node, int p0, int p1)>& compute,
                  const std::function<void(int tensor, int rows)>& drop) {
  const int nt = static_cast<int>(m_.tensors.size());
  std::vector<int> hi(nt, 0);
  for (int step = 1; step <= steps_; ++step) {
    // Rows wanted at the end of this step: the group's outputs advance by a
    // share of their slab, every windowed tensor by what its consumers read.
    for (int t = 0; t < nt; ++t) hi[t] = done_[t];
    for (int i = g_.last; i >= g_.first; --i) {
      const NodeQ& n = m_.nodes[i];
      const int o = n.output;
      if (g_.index_of(o) < 0) {
        const int64_t len = end_[o] - start_[o];
        hi[o] = start_[o] + static_cast<int>((len * step + steps_ - 1) / steps_);
      }
      if (hi[o] <= start_[o]) continue;
      const int x = n.inputs[0];
      if (g_.index_of(x) >= 0)
        hi[x] = std::max(hi[x], std::min(end_[x], in_hi(n.conv.shape, hi[o])));
      if (n.conv.residual && g_.index_of(n.inputs[1]) >= 0)
        hi[n.inputs[1]] = std::max(hi[n.inputs[1]], std::min(end_[n.inputs[1]], hi[o]));
    }
    for (int i = g_.first; i <= g_.last; ++i) {
      const NodeQ& n = m_.nodes[i];
      const int o = n.output;
      if (hi[o] <= done_[o]) continue;
      const int w = g_.index_of(o);
      if (w >= 0) {
        // Drop the rows no consumer reads again: each consumer's next rows
        // start where its output stopped.
        int keep = done_[o];
        for (int j = i + 1; j <= g_.last; ++j) {
          const NodeQ& c = m_.nodes[j];
          if (c.inputs[0] == o) keep = std::min(keep, in_lo(c.conv.shape, done_[c.output]));
          if (c.conv.residual && c.inputs[1] == o) keep = std::min(keep, done_[c.output]);
        }
        if (keep > w0_[o]) {
          drop(o, keep - w0_[o]);
          w0_[o] = keep;
        }
        peak_[w] = std::max(peak_[w], hi[o] - w0_[o]);
        ECG_CHECK(g_.window_rows.empty() || hi[o] - w0_[o] <= g_.window_rows[w],
                  "row tiling: window of ", m_.tensors[o].name, " overflows");
      }
      // Every input row the new output rows read is in its window.
      auto check_in = [&](int t, int lo, int hi_in) {
        const RowWindow win = window_of(t);
        ECG_CHECK(lo >= win.row0 && hi_in <= win.row0 + win.rows, "row tiling: ", n.name,
                  " reads rows [", lo, ", ", hi_in, ") of ", m_.tensors[t].name,
                  ", the window holds [", win.row0, ", ", win.row0 + win.rows, ")");
      };
      check_in(n.inputs[0], in_lo(n.conv.shape, done_[o]), in_hi(n.conv.shape, hi[o]));
      if (n.conv.residual) check_in(n.inputs[1], done_[o], hi[o]);
      compute(i, done_[o], hi[o]);
      done_[o] = hi[o];
    }
  }
  for (int i = g_.first; i <= g_.last; ++i) {
    const int o = m_.nodes[i].output;
    ECG_CHECK(done_[o] == end_[o], "row tiling: ", m_.tensors[o].name, " stopped at row ", done_[o],
              " of ", end_[o]);
  }
}

}  // namespace ecg::quant
