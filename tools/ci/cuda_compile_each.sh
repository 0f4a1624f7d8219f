# shellcheck shell=bash
# Sourced by tools/ci/cuda_compile_matrix.sh and tools/ci/cuda_sm53.sh: the
# steps both take with their own nvcc and flags (the variables `nvcc` and
# `flags` of the sourcing script).

# cuda_cu_files JOB [files.cu...]: the array `files` = the arguments, or every
# tracked .cu; with none, says so and returns 1.
cuda_cu_files() {
  local job=$1
  shift
  if [ $# -gt 0 ]; then
    files=("$@")
  else
    mapfile -t files < <(git ls-files '*.cu')
  fi
  if [ ${#files[@]} -eq 0 ]; then
    echo "$job: no .cu files"
    return 1
  fi
}

# cuda_compile_each OUT OK_LABEL FAIL_LABEL [--headers]: compiles every file of
# `files` into OUT, nvcc's and ptxas's output in `log` (OUT/ptxas.log; with
# --headers a "### file" line before each file's part), one line per file,
# then the errors and warnings. `status`: 1 when a file failed, else 0.
cuda_compile_each() {
  local out=$1 ok=$2 fail=$3 headers=${4:-} f obj
  mkdir -p "$out"
  log="$out/ptxas.log"
  : >"$log"
  status=0
  for f in "${files[@]}"; do
    obj="$out/$(echo "$f" | tr / _).o"
    if [ -n "$headers" ]; then echo "### $f" >>"$log"; fi
    if "$nvcc" "${flags[@]}" -c "$f" -o "$obj" >>"$log" 2>&1; then
      echo "  $ok  $f"
    else
      echo "  $fail  $f"
      status=1
    fi
  done
  grep -E "error|warning" "$log" | grep -v "^ptxas info" || true
}
