{
  "targets": [
    {
      "target_name": "gr2_torch",
      "sources": ["addon.cc", "tensor_ops.cc", "nn_ops.cc", "attention.cc", "flash_f32.cc", "softmax_rows.cc", "swiglu.cc", "autograd_ops.cc", "allocator.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node torch-config.cjs include)"
      ],
      "libraries": ["<!@(node torch-config.cjs libs)"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-fno-trapping-math", "-Wno-unused-parameter", "-Wno-deprecated-declarations", "-Wno-psabi"]
    }
  ]
}
