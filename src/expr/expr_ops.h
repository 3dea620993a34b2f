/* SPDX-License-Identifier: Apache-2.0
 * The expression VM's opcodes, defined once: name, operand format (how
 * expr_dump prints a, b and c), fixed stack effect, and what it does.
 * Every consumer (enum, names, dump, compiler stack accounting) expands
 * EXPR_OPS with its own X.  CALL's stack effect depends on b (argc) and is
 * computed by the compiler; its table entry is 0.
 * Tested by: tests/unit/check_expr.c, tests/golden/expr/ */
#ifndef CEPD_EXPR_OPS_H
#define CEPD_EXPR_OPS_H

/* X(name, operand format, stack effect, doc) */
#define EXPR_OPS(X)                                                                            \
    X(CONST, EXPR_OPF_CONST, 1, "push constant a")                                         \
    X(FIELD, EXPR_OPF_SLOT, 1, "push slot a of the current event; null without one")       \
    X(RESULT, EXPR_OPF_RESULT, 1, "push aggregate result a; null outside aggregates")      \
    X(STEP_FIELD, EXPR_OPF_STEP_SEL_SLOT, 1,                                                \
      "push slot c of event b (negative from the end) of step a; null if absent")          \
    X(STEP_COUNT, EXPR_OPF_STEP, 1, "push the number of events step a has taken")          \
    X(STEP_SUM, EXPR_OPF_STEP_SLOT, 1, "push the sum of slot c over step a's events")      \
    X(STEP_AVG, EXPR_OPF_STEP_SLOT, 1, "push the mean of slot c over step a; null if none") \
    X(STEP_MIN, EXPR_OPF_STEP_SLOT, 1, "push the least number in slot c over step a")      \
    X(STEP_MAX, EXPR_OPF_STEP_SLOT, 1, "push the greatest number in slot c over step a")   \
    X(POP, EXPR_OPF_NONE, -1, "drop the top of the stack")                                \
    X(JMP, EXPR_OPF_JUMP, 0, "continue at a")                                              \
    X(AND_JMP, EXPR_OPF_JUMP, -1,                                                           \
      "if top is not true, replace it with false and continue at a; else pop it")          \
    X(OR_JMP, EXPR_OPF_JUMP, -1, "if top is true, continue at a (keeping it); else pop it") \
    X(NOTNULL_JMP, EXPR_OPF_JUMP, -1,                                                       \
      "if top is not null, continue at a (keeping it); else pop it (coalesce)")            \
    X(TO_BOOL, EXPR_OPF_NONE, 0, "replace top with true if it is true, else false")        \
    X(NOT, EXPR_OPF_NONE, 0, "replace top with true if it is false, else false")           \
    X(IS_NULL, EXPR_OPF_NONE, 0, "replace top with whether it is null")                    \
    X(NOT_NULL, EXPR_OPF_NONE, 0, "replace top with whether it is not null")               \
    X(EQ, EXPR_OPF_NONE, -1, "pop b, a; push a == b (false if either is null)")            \
    X(NE, EXPR_OPF_NONE, -1, "pop b, a; push a != b (false if either is null)")            \
    X(LT, EXPR_OPF_NONE, -1, "pop b, a; push a < b (numbers or strings, else false)")      \
    X(LE, EXPR_OPF_NONE, -1, "pop b, a; push a <= b")                                      \
    X(GT, EXPR_OPF_NONE, -1, "pop b, a; push a > b")                                       \
    X(GE, EXPR_OPF_NONE, -1, "pop b, a; push a >= b")                                      \
    X(IN, EXPR_OPF_CONST, 0, "replace top with whether it equals an item of list a")       \
    X(NOT_IN, EXPR_OPF_CONST, 0, "replace top with whether it is not in list a (null: false)") \
    X(MATCH, EXPR_OPF_REGEX, 0, "replace top with whether the string matches regex a")     \
    X(NOT_MATCH, EXPR_OPF_REGEX, 0, "replace top with whether the string does not match a") \
    X(CONTAINS, EXPR_OPF_NONE, -1, "pop b, a; push whether string a contains string b")    \
    X(STARTSWITH, EXPR_OPF_NONE, -1, "pop b, a; push whether string a starts with b")      \
    X(ENDSWITH, EXPR_OPF_NONE, -1, "pop b, a; push whether string a ends with b")          \
    X(ADD, EXPR_OPF_NONE, -1, "pop b, a; push a + b (int overflow goes to float)")         \
    X(SUB, EXPR_OPF_NONE, -1, "pop b, a; push a - b")                                      \
    X(MUL, EXPR_OPF_NONE, -1, "pop b, a; push a * b")                                      \
    X(DIV, EXPR_OPF_NONE, -1, "pop b, a; push a / b (int when exact; null when b is 0)")   \
    X(MOD, EXPR_OPF_NONE, -1, "pop b, a; push a % b (null when b is 0)")                   \
    X(NEG, EXPR_OPF_NONE, 0, "replace top with its negation")                              \
    X(CIDR, EXPR_OPF_CIDR, 0, "replace top with whether the IP string is in network a")    \
    X(LOOKUP, EXPR_OPF_LOOKUP, 0,                                                           \
      "replace the key on top with its value in table a (column b, then member c; else null)") \
    X(IN_TABLE, EXPR_OPF_TABLE, 0,                                                          \
      "replace top with whether it is a key of table a (CIDR set: an address in it)")      \
    X(NOT_IN_TABLE, EXPR_OPF_TABLE, 0, "replace top with the negation of IN_TABLE (null: false)") \
    X(CALL, EXPR_OPF_FUNC, 0, "pop b arguments, push builtin a applied to them")

enum expr_opf {
    EXPR_OPF_NONE = 0,
    EXPR_OPF_CONST,
    EXPR_OPF_SLOT,
    EXPR_OPF_RESULT,
    EXPR_OPF_STEP,
    EXPR_OPF_STEP_SEL_SLOT,
    EXPR_OPF_STEP_SLOT,
    EXPR_OPF_JUMP,
    EXPR_OPF_REGEX,
    EXPR_OPF_CIDR,
    EXPR_OPF_FUNC,
    EXPR_OPF_TABLE,
    EXPR_OPF_LOOKUP,
    EXPR_OPF_COUNT
};

enum expr_op {
#define EXPR_OP_ENUM(name, fmt, delta, doc) EXPR_OP_##name,
    EXPR_OPS(EXPR_OP_ENUM)
#undef EXPR_OP_ENUM
    EXPR_OP_COUNT
};

#endif
