/* QEMU TCG plugin (host C, not firmware): exact executed-instruction counts between marks.
 *
 * The firmware's own counter (a timer under -icount shift=0) resolves 40 instructions on
 * mps2 and 31.25 on mps3-an547; this counts every executed guest instruction, from outside
 * the guest, so "the same count for every input" can be checked exactly.
 *
 *   qemu-system-arm ... -plugin insn_count_plugin.so,mark=0x1a2,out=/tmp/marks.txt
 *       [,layer=0x1c4] [,hist=1]
 *
 * mark:  the address of a function the firmware calls before and after each inference
 *        (bench_mark in firmware/bench/bench_main.c); every time its first instruction
 *        runs, a line "M <instructions so far>" is written to `out`.
 * layer: optional, the same for a per-layer hook ("L <count>").
 * hist:  also write, at every mark, how often each translated block ran since the last
 *        mark ("H <address> <instructions>"): diff two inputs' histograms to find the
 *        code whose count depends on data.
 *
 * Every instruction adds one when it starts, whether or not its condition passes (as
 * QEMU's own -icount does). Counts are exact as long as no I/O access is made between
 * marks (an I/O access inside a block makes QEMU re-execute part of it). Built by
 * compiler/bench/insn_count.py with the host compiler. QEMU's plugin header is not
 * installed by Debian, so the part of its plugin API (version 1, QEMU 7.2) used here is
 * declared below. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1: the declarations this plugin needs ---------------- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
                                          qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
/* ------------------------------------------------------------------------------------ */

#define HIST_SPAN (1u << 22) /* code addresses below 4 MiB, in halfwords */

static uint64_t executed;
static uint64_t mark_addr = UINT64_MAX, layer_addr = UINT64_MAX;
static FILE *out;
static uint32_t *hist; /* instructions per block start address / 2, since the last mark */

/* One translated block's identity for the histogram: start address and length. */
typedef struct {
    uint64_t vaddr;
    uint64_t n;
} block_info;

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const block_info *b = udata;
    if (b->vaddr / 2 < HIST_SPAN) {
        hist[b->vaddr / 2] += (uint32_t)b->n;
    }
}

static void dump_hist(void)
{
    for (uint32_t i = 0; i < HIST_SPAN; i++) {
        if (hist[i]) {
            fprintf(out, "H %#" PRIx64 " %" PRIu32 "\n", (uint64_t)i * 2, hist[i]);
            hist[i] = 0;
        }
    }
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    fprintf(out, "%s %" PRIu64 "\n", udata ? "L" : "M", executed);
    if (!udata && hist) {
        dump_hist();
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    if (hist) {
        block_info *b = malloc(sizeof *b); /* lives as long as the translation: never freed */
        b->vaddr = qemu_plugin_tb_vaddr(tb);
        b->n = n;
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == mark_addr || pc == layer_addr) {
            /* whether the mark instruction itself is in the count does not matter: it is
             * the same at every mark */
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                   pc == layer_addr ? (void *)1 : NULL);
        }
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    fprintf(out, "E %" PRIu64 "\n", executed);
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "mark=", 5) == 0) {
            mark_addr = strtoull(argv[i] + 5, NULL, 0) & ~1ull; /* Thumb bit off */
        } else if (strncmp(argv[i], "layer=", 6) == 0) {
            layer_addr = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strcmp(argv[i], "hist=1") == 0) {
            hist = calloc(HIST_SPAN, sizeof *hist);
        } else {
            fprintf(stderr, "insn_count_plugin: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!path || mark_addr == UINT64_MAX || !(out = fopen(path, "w"))) {
        fprintf(stderr, "insn_count_plugin: needs mark=ADDR and a writable out=FILE\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
