// Tells binding.gyp where libtorch is: $LIBTORCH (an official zip, CPU or CUDA) or the
// system install (Debian's libtorch-dev). Usage: node torch-config.cjs include|libs
const fs = require("fs");
const path = require("path");
const root = process.env.LIBTORCH;
const what = process.argv[2];
if (root) {
  const lib = path.join(root, "lib");
  if (what === "include") {
    console.log([path.join(root, "include"), path.join(root, "include/torch/csrc/api/include")].join(" "));
  } else {
    // CUDA builds register their kernels from libtorch_cuda at load time: keep it linked.
    const cuda = fs.existsSync(path.join(lib, "libtorch_cuda.so")) ? "-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed" : "";
    console.log(`-L${lib} -Wl,-rpath,${lib} -Wl,--no-as-needed -ltorch -Wl,--as-needed -ltorch_cpu -lc10 ${cuda}`.trim());
  }
} else if (what === "include") {
  console.log("/usr/include/torch/csrc/api/include");
} else {
  console.log("-Wl,--no-as-needed -ltorch -Wl,--as-needed -ltorch_cpu -lc10");
}
