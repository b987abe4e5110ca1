/* Force-included (-include) into the bench build: the generated model calls bench_trace
 * after each layer, which reads the instruction counter (firmware/bench/bench_main.c). */
#ifndef BENCH_TRACE_H
#define BENCH_TRACE_H

void bench_trace(int layer);
#define PEEKLESS_MODEL_TRACE(layer, data, bytes) bench_trace(layer)

#endif /* BENCH_TRACE_H */
