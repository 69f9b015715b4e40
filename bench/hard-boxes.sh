# Issue 10's 24 boxes, shared by bench/make-hard.sh and bench/max-error-boxes.sh (sourced, not run): 4 network pairs ×
# MNIST test images 0, 1, 2 (bench/centers/rowK.csv) × L∞ radius 1/255 and 2/255, clipped to [0,1].
# for_each_hard_box CALLBACK calls CALLBACK FLOAT QUANT ROW EPS NAME for each box, paths relative to the repository root.
for_each_hard_box() {
  callback=$1
  for pair in \
    "../shared/benchmarks/mnistfc/mnist-net_256x2.onnx ../shared/benchmarks/pytorch/mnist-net_256x2.qnnpack-qdq.onnx 256x2" \
    "../shared/benchmarks/mnistfc/mnist-net_256x4.onnx ../shared/benchmarks/pytorch/mnist-net_256x4.qnnpack-qdq.onnx 256x4" \
    "../shared/benchmarks/mnistfc/mnist-net_256x6.onnx ../shared/benchmarks/pytorch/mnist-net_256x6.qnnpack-qdq.onnx 256x6" \
    "../shared/benchmarks/pairs/mnist_relu_3_100.onnx bench/hard/mnist_relu_3_100.qnnpack-qdq.onnx relu_3_100"; do
    set -- $pair
    for row in 0 1 2; do
      for grey in 1 2; do
        "$callback" "$1" "$2" "$row" "$(awk "BEGIN { printf \"%.17g\", $grey / 255 }")" "$3-row$row-grey$grey"
      done
    done
  done
}
