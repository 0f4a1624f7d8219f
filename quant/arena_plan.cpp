// The static arena plan (quant/arena_plan.h): tensor lifetimes in execution
// order, in-place residual adds and row groups, placed greedily first fit.
#include "quant/arena_plan.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace ecg::quant {

namespace {

// The plan for given row groups (possibly none).
ArenaPlan plan_with(const Int8Model& m, int batch, bool reuse, bool in_place_residual,
                    const std::vector<RowGroup>& groups) {
  const int nt = static_cast<int>(m.tensors.size());
  const int nn = static_cast<int>(m.nodes.size());
  // A row group runs as one step of the schedule: everything it touches is
  // alive for all of it.
  std::vector<int> time(nn);
  for (int i = 0; i < nn; ++i) time[i] = i;
  std::vector<bool> windowed(nt, false), grouped(nn, false);
  for (const RowGroup& g : groups) {
    for (int i = g.first; i <= g.last; ++i) time[i] = g.first, grouped[i] = true;
    for (int t : g.windowed) windowed[t] = true;
  }
  std::vector<int> first(nt, -1), last(nt, -1);
  for (int i = 0; i < nn; ++i) {
    const NodeQ& n = m.nodes[i];
    if (n.output >= 0) first[n.output] = time[i];
    for (int t : n.inputs) last[t] = std::max(last[t], time[i]);
  }
  ArenaPlan plan;
  plan.offset.assign(nt, 0);
  plan.row_groups = groups;
  auto size_of = [&](int t) {
    int64_t b = m.tensors[t].bytes() / std::max(1, m.tensors[t].N) * batch;
    return (b + 63) / 64 * 64;
  };
  for (int t = 0; t < nt; ++t) plan.naive_bytes += size_of(t);
  // Buffers: one per group of tensors sharing bytes (an in-place conv output
  // joins its residual's), plus one window block per row group. A buffer
  // lives from its first member's birth to its last member's last use.
  std::vector<int> root(nt);
  for (int t = 0; t < nt; ++t) root[t] = t;
  if (reuse && in_place_residual)
    for (int i = 0; i < nn; ++i) {
      const NodeQ& n = m.nodes[i];
      if (grouped[i] || n.kind != NodeKind::Conv || !n.conv.residual || n.output < 0 ||
          n.inputs.size() != 2)
        continue;
      const int x = n.inputs[0], res = n.inputs[1];
      if (last[res] == i && root[x] != root[res] && size_of(res) == size_of(n.output))
        root[n.output] = root[res];
    }
  struct Buffer {
    int64_t size = 0, offset = 0;
    int lo = 0, hi = 0;
    bool used = false;
  };
  std::vector<Buffer> buf(nt + groups.size());
  for (int t = 0; t < nt; ++t) {
    if (windowed[t]) continue;
    Buffer& b = buf[root[t]];
    const int tlo = first[t], thi = std::max(last[t], first[t]);
    if (!b.used) b.used = true, b.lo = tlo, b.hi = thi;
    b.lo = std::min(b.lo, tlo), b.hi = std::max(b.hi, thi);
    b.size = std::max(b.size, size_of(t));
  }
  for (size_t k = 0; k < groups.size(); ++k) {
    Buffer& b = buf[nt + k];
    b.used = true;
    b.lo = b.hi = groups[k].first;
    b.size = groups[k].window_bytes * groups[k].slabs;
  }
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(buf.size()); ++i)
    if (buf[i].used) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return buf[a].size > buf[b].size; });
  std::vector<int> placed;
  for (int i : order) {
    // Candidate offsets: 0 and the end of every placed buffer alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int p : placed)
      if (!reuse || (buf[p].lo <= buf[i].hi && buf[i].lo <= buf[p].hi))
        busy.emplace_back(buf[p].offset, buf[p].offset + buf[p].size);
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto& b : busy) {
      if (off + buf[i].size <= b.first) break;
      off = std::max(off, b.second);
    }
    buf[i].offset = off;
    plan.bytes = std::max(plan.bytes, off + buf[i].size);
    placed.push_back(i);
  }
  for (size_t k = 0; k < groups.size(); ++k) plan.window_block.push_back(buf[nt + k].offset);
  for (int t = 0; t < nt; ++t) plan.offset[t] = buf[root[t]].offset;
  for (size_t k = 0; k < groups.size(); ++k)
    for (size_t w = 0; w < groups[k].windowed.size(); ++w)
      plan.offset[groups[k].windowed[w]] = plan.window_block[k] + groups[k].window_offset[w];
  return plan;
}

}  // namespace

ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse, bool in_place_residual,
                     const RowTilingOptions& rt) {
  ArenaPlan best = plan_with(m, batch, reuse, in_place_residual, {});
  if (!reuse || rt.slabs <= 0) return best;
  if (rt.last >= 0)
    return plan_with(m, batch, reuse, in_place_residual,
                     {make_row_group(m, 0, rt.last, rt.slabs, rt.band_rows)});
  // Every valid prefix of convolutions; a longer one must lower the peak by
  // more than 1 % (each banded layer adds steps and halo rows). The windows
  // of all slabs grow with slabs x band height: with many threads 8-row bands
  // cost about what they save, so the band halves (4, 2, 1 rows: more, smaller
  // calls) until the plan is at least 10 % below layer by layer.
  const ArenaPlan flat = best;
  for (int band = rt.band_rows; band >= 1; band /= 2) {
    ArenaPlan band_best = flat;
    for (int last = 0; last < static_cast<int>(m.nodes.size()); ++last) {
      if (!valid_row_group(m, 0, last)) {
        if (m.nodes[last].kind != NodeKind::Conv || m.nodes[last].run_float) break;
        continue;  // a tensor read both inside and after: try a longer prefix
      }
      ArenaPlan p = plan_with(m, batch, reuse, in_place_residual,
                              {make_row_group(m, 0, last, rt.slabs, band)});
      if (static_cast<double>(p.bytes) < 0.99 * static_cast<double>(band_best.bytes)) band_best = p;
    }
    if (band_best.bytes < best.bytes) best = band_best;
    if (static_cast<double>(best.bytes) < 0.9 * static_cast<double>(flat.bytes)) break;
  }
  return best;
}

}  // namespace ecg::quant
