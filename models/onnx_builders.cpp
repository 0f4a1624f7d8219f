// The ONNX writers' shared protobuf helpers (models/onnx_builders.h).
#include "models/onnx_builders.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "models/onnx.h"

namespace ecg::onnx_io {

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::string& name,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

void set_int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INT);
  a->set_i(v);
}

void set_ints_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t x : v) a->add_ints(x);
}

void set_float_attr(onnx::NodeProto* n, const std::string& name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
  a->set_f(v);
}

namespace {
// Raw little-endian bytes, which is how ONNX stores raw_data (and the hosts
// we build for are little-endian).
void set_raw_tensor(onnx::TensorProto* t, const std::string& name, int32_t type, const void* data,
                    size_t bytes, const Shape& shape) {
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : shape) t->add_dims(d);
  t->set_raw_data(std::string(static_cast<const char*>(data), bytes));
}
}  // namespace

void set_float_tensor(onnx::TensorProto* t, const std::string& name, const float* data,
                      const Shape& shape) {
  set_raw_tensor(t, name, onnx::TensorProto_DataType_FLOAT, data,
                 static_cast<size_t>(shape_numel(shape)) * sizeof(float), shape);
}

void set_int8_tensor(onnx::TensorProto* t, const std::string& name, const int8_t* data,
                     const Shape& shape) {
  set_raw_tensor(t, name, onnx::TensorProto_DataType_INT8, data,
                 static_cast<size_t>(shape_numel(shape)), shape);
}

void set_batched_float_value(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = tt->mutable_shape()->add_dim();
    if (i == 0)
      d->set_dim_param("batch");
    else
      d->set_dim_value(shape[i]);
  }
}

void add_metadata(onnx::ModelProto* m, const std::string& key, const std::string& value) {
  auto* p = m->add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

void start_export_model(onnx::ModelProto* m, const std::string& doc) {
  m->set_ir_version(7);  // the IR of opset 13 (ONNX 1.8)
  m->set_producer_name("ecgcnn");
  m->set_producer_version(ECG_VERSION);
  m->set_doc_string(doc);
  auto* op = m->add_opset_import();
  op->set_domain("");
  op->set_version(kOnnxExportOpset);
}

void check_and_write(const onnx::ModelProto& m, const std::string& path) {
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    fail("'", path, "': the exported graph fails the ONNX checker: ", one_line(e.what()));
  }
  std::string bytes;
  ECG_CHECK(m.SerializeToString(&bytes), "'", path, "': the model does not serialize");
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ECG_CHECK(f.good(), "'", path, "': cannot write the file");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    ECG_CHECK(f.good(), "'", path, "': write failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail("'", path, "': cannot write the file (", ec.message(), ")");
  }
}

}  // namespace ecg::onnx_io
