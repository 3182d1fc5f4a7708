#!/usr/bin/env python3
"""Writes the typed generic interfaces of capi/fortran/ptychopatch.f90.

The module's C interfaces take every array as type(c_ptr), so the compiler
cannot tell a real(c_double) object from a complex64 one. The typed layer
makes each C name that takes arrays also a generic interface: besides the
C interface (the type(c_ptr) form, kept as it is), specific module
procedures take typed arrays of the right rank -- complex(c_float_complex)
or real(c_float) objects and patches, real(c_double) or real(c_float)
offsets, integer(c_int16_t) or real(c_float) frames -- check their shapes,
and call the C function with c_loc. A call whose arrays match no specific
procedure does not compile (tests/fortran: fortran_typed_rejects_*).

The specific procedures differ only in types and ranks, so they are
generated: this script rewrites the two marked regions of the module,
  ! BEGIN typed generics ... ! END typed generics        (specification part)
  ! BEGIN typed procedures ... ! END typed procedures    (after contains)
The checks they call (check_extract, check_align, ...) are written by hand
in the module, below the generated procedures.

  python3 capi/fortran/generate_typed.py           # rewrite the module
  python3 capi/fortran/generate_typed.py --check   # exit 1 if out of date
(ctest: fortran_typed_interfaces_generated)
"""
import pathlib
import sys

MODULE = pathlib.Path(__file__).resolve().parent / "ptychopatch.f90"
WIDTH = 96  # longest generated line, continuation marks included

# Object, patch and canvas elements: suffix, Fortran type, ptp_dtype.
ELEMENTS = [
    ("c64", "complex(c_float_complex)", "PTP_DTYPE_COMPLEX64"),
    ("f32", "real(c_float)", "PTP_DTYPE_FLOAT32"),
]
# Offsets.
OFFSETS = [
    ("f64", "real(c_double)", "PTP_DTYPE_FLOAT64"),
    ("f32", "real(c_float)", "PTP_DTYPE_FLOAT32"),
]
# Alignment frames (uint16 sensor counts are held by integer(c_int16_t)).
FRAMES = [
    ("u16", "integer(c_int16_t)", "PTP_DTYPE_UINT16"),
    ("f32", "real(c_float)", "PTP_DTYPE_FLOAT32"),
]
PATCH_RANKS = (3, 4)  # (N, N, P); (c, N, N, B) or (N, N, c, B)


# ------------------------------------------------------- Fortran fragments

def dims(rank):
    return ", ".join([":"] * rank)


def array(ftype, name, rank, intent, optional=False):
    """A contiguous assumed-shape TARGET dummy argument."""
    attributes = "intent(%s), target, contiguous" % intent
    if optional:
        attributes += ", optional"
    return "%s, %s :: %s(%s)" % (ftype, attributes, name, dims(rank))


def shape(name):
    return "shape(%s, c_int64_t)" % name


def extent(name, dim):
    return "size(%s, %d, c_int64_t)" % (name, dim)


def nbytes(name):
    return "size(%s, kind=c_size_t)*(storage_size(%s, c_size_t)/8)" % (name, name)


def loc(name, pointer):
    """c_loc(name), or c_null_ptr for a zero-size array (c_loc needs one
    element at least)."""
    return "if (size(%s) > 0) %s = c_loc(%s)" % (name, pointer, name)


def loc_optional(name, pointer):
    return ["if (present(%s)) then" % name, "  " + loc(name, pointer), "end if"]


def checked(call):
    """status = call, returning on a failure."""
    return ["status = " + call, "if (status /= PTP_SUCCESS) return"]


def checked_if_present(name, call):
    """The check of an optional argument, made only where it is present (an
    absent assumed-shape array is never passed on: gfortran computed its
    descriptor's offset from undefined bounds, which UBSan reported as a
    signed overflow)."""
    return ["if (present(%s)) then" % name] + ["  " + s for s in checked(call)] + ["end if"]


def align_output_checks(confidence):
    """The shapes of ptp_align_execute's optional outputs."""
    checks = []
    if confidence:
        checks += checked_if_present(
            "confidence", "check_shape(where, 'confidence', %s, [m], ': one per frame')"
            % shape("confidence"))
    return checks + checked_if_present(
        "plane_shifts", "check_plane_shifts(where, plan, m, %s)" % shape("plane_shifts"))


def checked_with_desc(call):
    return ["if (present(desc)) then"] + ["  " + s for s in checked(call)] + ["end if"]


def wrap(statement, indent):
    """Breaks a long statement after commas: a list of names (private ::,
    procedure ::) after its own commas, continuation lines aligned after
    the "::"; anything else (a call, a function statement) after the
    commas of its first parenthesis, aligned after that parenthesis."""
    first = indent + statement
    if len(first) <= WIDTH:
        return [first]
    if statement.startswith(("private ::", "procedure ::")):
        split_depth, column = 0, statement.index("::") + 3
    else:
        split_depth, column = 1, statement.index("(") + 1
    align = " " * (len(indent) + column)
    lines, depth, start = [], 0, 0
    pieces = []
    for i, ch in enumerate(statement):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == split_depth:
            pieces.append(statement[start:i + 1])
            start = i + 2  # skip the space after the comma
    pieces.append(statement[start:])
    line = indent + pieces[0]
    for piece in pieces[1:]:
        if len(line) + 1 + len(piece) + 2 > WIDTH:
            lines.append(line + " &")
            line = align + piece
        else:
            line += " " + piece
    lines.append(line)
    return lines


class Procedure:
    """One specific procedure: function name(args) result(status)."""

    def __init__(self, generic, suffix, args, declarations, body):
        self.generic = generic  # the C function; the checks' messages name it
        self.name = generic + "_" + suffix
        self.args = args
        self.declarations = declarations
        self.body = body

    def text(self):
        head = "function %s(%s) result(status)" % (self.name, ", ".join(self.args))
        lines = wrap(head, "  ")
        for d in self.declarations:
            lines += wrap(d, "    ")
        lines.append("    character(*), parameter :: where = '%s'" % self.generic)
        lines.append("    integer(c_int32_t) :: status")
        for statement in self.body:
            depth = len(statement) - len(statement.lstrip(" "))
            lines += wrap(statement.lstrip(" "), "    " + " " * depth)
        lines.append("  end function %s" % self.name)
        return "\n".join(lines)


# ------------------------------------------------------------- extraction

def extract_procedures():
    """ptp_extract_execute, ptp_extract_patches, ptp_extract_execute_legacy,
    ptp_reassemble_execute, ptp_reassemble_patches."""
    procedures = []
    for e, etype, edtype in ELEMENTS:
        for o, otype, odtype in OFFSETS:
            for rank in PATCH_RANKS:
                suffix = "%s_%s_r%d" % (e, o, rank)
                plan = "type(c_ptr), intent(in) :: plan"
                context = "type(c_ptr), intent(in) :: context"
                desc = "type(ptp_extract_desc), intent(in) :: desc"
                desc_optional = "type(ptp_extract_desc), intent(in), optional :: desc"
                obj = array(etype, "object", 2, "in")
                offsets = array(otype, "offsets", 2, "in")
                patches_in = array(etype, "patches", rank, "in")
                patches_out = array(etype, "patches", rank, "inout")
                canvas = array(etype, "canvas", 2, "inout")
                weights = array("real(c_float)", "weights", 2, "inout", optional=True)

                def check_arrays(name):
                    """check_extract of object (or canvas) and patches."""
                    return ("check_extract(where, desc, %s, %s, '%s', %s, %s, %s)"
                            % (edtype, odtype, name, shape(name), extent("offsets", 2),
                               shape("patches")))

                pairs = checked("check_pairs(where, 'offsets', %s)" % shape("offsets"))
                weights_shape = ["if (present(weights)) then"] + [
                    "  " + s for s in checked("check_weights(where, %s, %s)"
                                              % (shape("weights"), shape("canvas")))] + [
                    "end if"]
                pointers = ["p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr",
                            loc("object", "p_object"), loc("offsets", "p_offsets"),
                            loc("patches", "p_patches")]
                reassemble_pointers = [
                    "p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr",
                    loc("patches", "p_patches"), loc("offsets", "p_offsets"),
                    loc("canvas", "p_canvas"), "canvas_bytes = " + nbytes("canvas"),
                    "p_weights = c_null_ptr; weights_bytes = 0",
                    "if (present(weights)) then",
                    "  " + loc("weights", "p_weights"),
                    "  weights_bytes = " + nbytes("weights"),
                    "end if"]

                # ptp_extract_execute(plan, object, offsets, patches [, desc])
                procedures.append(Procedure(
                    "ptp_extract_execute", suffix,
                    ["plan", "object", "offsets", "patches", "desc"],
                    [plan, obj, offsets, patches_out, desc_optional,
                     "type(c_ptr) :: p_object, p_offsets, p_patches",
                     "integer(c_size_t) :: patches_bytes"],
                    pairs + checked_with_desc(check_arrays("object")) +
                    ["patches_bytes = " + nbytes("patches")] + pointers +
                    ["status = ptp_extract_execute(plan, p_object, p_offsets, %s, p_patches, "
                     "patches_bytes)" % extent("offsets", 2)]))

                # ptp_extract_patches(context, desc, object, offsets, patches)
                procedures.append(Procedure(
                    "ptp_extract_patches", suffix,
                    ["context", "desc", "object", "offsets", "patches"],
                    [context, desc, obj, offsets, patches_out,
                     "type(c_ptr) :: p_object, p_offsets, p_patches",
                     "integer(c_size_t) :: patches_bytes"],
                    pairs + checked(check_arrays("object")) +
                    ["patches_bytes = " + nbytes("patches")] + pointers +
                    ["status = ptp_extract_patches(context, desc, p_object, p_offsets, %s, "
                     "p_patches, patches_bytes)" % extent("offsets", 2)]))

                # ptp_extract_execute_legacy(plan, object, global_offsets,
                #                            local_offsets, patches [, desc])
                procedures.append(Procedure(
                    "ptp_extract_execute_legacy", suffix,
                    ["plan", "object", "global_offsets", "local_offsets", "patches", "desc"],
                    [plan, obj, array(otype, "global_offsets", 2, "in"),
                     array(otype, "local_offsets", 3, "in"), patches_out, desc_optional,
                     "type(c_ptr) :: p_object, p_global, p_local, p_patches",
                     "integer(c_size_t) :: patches_bytes"],
                    checked("check_legacy_offsets(where, %s, %s, desc)"
                            % (shape("global_offsets"), shape("local_offsets"))) +
                    checked_with_desc(
                        "check_extract(where, desc, %s, %s, 'object', %s, "
                        "size(local_offsets, kind=c_int64_t)/2, %s)"
                        % (edtype, odtype, shape("object"), shape("patches"))) +
                    ["patches_bytes = " + nbytes("patches"),
                     "p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr",
                     "p_patches = c_null_ptr",
                     loc("object", "p_object"), loc("global_offsets", "p_global"),
                     loc("local_offsets", "p_local"), loc("patches", "p_patches"),
                     "status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, %s, "
                     "p_patches, patches_bytes)" % extent("global_offsets", 2)]))

                # ptp_reassemble_execute(plan, patches, offsets, canvas
                #                        [, weights] [, desc])
                procedures.append(Procedure(
                    "ptp_reassemble_execute", suffix,
                    ["plan", "patches", "offsets", "canvas", "weights", "desc"],
                    [plan, patches_in, offsets, canvas, weights, desc_optional,
                     "type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights",
                     "integer(c_size_t) :: canvas_bytes, weights_bytes"],
                    pairs + weights_shape + checked_with_desc(check_arrays("canvas")) +
                    reassemble_pointers +
                    ["status = ptp_reassemble_execute(plan, p_patches, p_offsets, %s, p_canvas, "
                     "canvas_bytes, p_weights, weights_bytes)" % extent("offsets", 2)]))

                # ptp_reassemble_patches(context, desc, patches, offsets, canvas
                #                        [, weights])
                procedures.append(Procedure(
                    "ptp_reassemble_patches", suffix,
                    ["context", "desc", "patches", "offsets", "canvas", "weights"],
                    [context, desc, patches_in, offsets, canvas, weights,
                     "type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights",
                     "integer(c_size_t) :: canvas_bytes, weights_bytes"],
                    pairs + weights_shape + checked(check_arrays("canvas")) +
                    reassemble_pointers +
                    ["status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, %s, "
                     "p_canvas, canvas_bytes, p_weights, weights_bytes)" % extent("offsets", 2)]))
    return procedures


# --------------------------------------------------------------- grouping

GROUP_ARRAYS = [
    array("real(c_double)", "x", 1, "in"),
    array("real(c_double)", "y", 1, "in"),
    array("integer(c_int64_t)", "nn_indices", 2, "inout"),
]
GROUP_COORDS = [
    array("real(c_double)", "coords_nn", 3, "inout", optional=True),
    array("real(c_double)", "coords_offsets", 2, "inout", optional=True),
    array("real(c_double)", "coords_relative", 3, "inout", optional=True),
]
GROUP_POINTERS = (
    ["p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr",
     "p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr",
     loc("x", "p_x"), loc("y", "p_y"), loc("nn_indices", "p_indices")] +
    loc_optional("coords_nn", "p_nn") + loc_optional("coords_offsets", "p_off") +
    loc_optional("coords_relative", "p_rel"))


def check_group(desc):
    return checked("check_group(where, %s, size(x, kind=c_int64_t), size(y, kind=c_int64_t), "
                   "%s, coords_nn, coords_offsets, coords_relative)"
                   % (desc, shape("nn_indices")))


def group_procedures():
    """ptp_group_neighbors, ptp_grouped_patches."""
    procedures = [Procedure(
        "ptp_group_neighbors", "f64",
        ["context", "desc", "x", "y", "nn_indices", "coords_nn", "coords_offsets",
         "coords_relative"],
        ["type(c_ptr), intent(in) :: context", "type(ptp_group_desc), intent(in) :: desc"] +
        GROUP_ARRAYS + GROUP_COORDS + ["type(c_ptr) :: p_x, p_y, p_indices, p_nn, p_off, p_rel"],
        check_group("desc") + GROUP_POINTERS +
        ["status = ptp_group_neighbors(context, desc, p_x, p_y, size(x, kind=c_int64_t), "
         "p_indices, p_nn, p_off, p_rel)"])]
    for e, etype, edtype in ELEMENTS:
        for rank in PATCH_RANKS:
            procedures.append(Procedure(
                "ptp_grouped_patches", "%s_r%d" % (e, rank),
                ["context", "group", "extract", "object", "x", "y", "nn_indices", "patches",
                 "coords_nn", "coords_offsets", "coords_relative"],
                ["type(c_ptr), intent(in) :: context",
                 "type(ptp_group_desc), intent(in) :: group",
                 "type(ptp_extract_desc), intent(in) :: extract",
                 array(etype, "object", 2, "in")] + GROUP_ARRAYS +
                [array(etype, "patches", rank, "inout")] + GROUP_COORDS +
                ["type(c_ptr) :: p_object, p_x, p_y, p_indices, p_nn, p_off, p_rel, p_patches",
                 "integer(c_size_t) :: patches_bytes"],
                check_group("group") +
                checked("check_grouped_extract(where, group, extract, %s, %s, %s)"
                        % (edtype, shape("object"), shape("patches"))) +
                ["patches_bytes = " + nbytes("patches"),
                 "p_object = c_null_ptr; p_patches = c_null_ptr",
                 loc("object", "p_object"), loc("patches", "p_patches")] + GROUP_POINTERS +
                ["status = ptp_grouped_patches(context, group, extract, p_object, p_x, p_y, "
                 "size(x, kind=c_int64_t), p_indices, p_nn, p_off, p_rel, p_patches, "
                 "patches_bytes)"]))
    return procedures


# -------------------------------------------------------------- alignment

def align_procedures():
    """ptp_align_set_reference, ptp_align_execute, ptp_align_execute_frames."""
    procedures = []
    plan = "type(c_ptr), intent(in) :: plan"
    desc_optional = "type(ptp_align_desc), intent(in), optional :: desc"
    plane_shifts = array("real(c_double)", "plane_shifts", 3, "inout", optional=True)
    for f, ftype, fdtype in FRAMES:
        # ptp_align_set_reference(plan, frame [, desc]): frame(W, H) or
        # frame(W, H, channels)
        for rank in (2, 3):
            procedures.append(Procedure(
                "ptp_align_set_reference", "%s_r%d" % (f, rank),
                ["plan", "frame", "desc"],
                [plan, array(ftype, "frame", rank, "in"), desc_optional,
                 "type(c_ptr) :: p_frame"],
                checked_with_desc("check_align(where, desc, %s, 'frame', %s)"
                                  % (fdtype, shape("frame"))) +
                ["p_frame = c_null_ptr", loc("frame", "p_frame"),
                 "status = ptp_align_set_reference(plan, p_frame)"]))
        # ptp_align_execute and _frames(plan, frames, ...): the frames
        # stacked, frames(W, H, M) or frames(W, H, channels, M)
        for rank in (3, 4):
            frames = array(ftype, "frames", rank, "in")
            first = "frames(%s)" % ", ".join(["1"] * (rank - 1) + ["i"])
            frame_pointers = [
                "m = " + extent("frames", rank),
                "frame_shape = " + shape("frames"),
                "frame_pointers = c_null_ptr",
                "if (size(frames) > 0) then",
                "  do i = 1, m",
                "    frame_pointers(i) = c_loc(%s)" % first,
                "  end do",
                "end if"] + checked_with_desc(
                    "check_align(where, desc, %s, 'frames(..., i)', frame_shape(1:%d))"
                    % (fdtype, rank - 1))
            locals_ = "integer(c_int64_t) :: m, i, frame_shape(%d)" % rank
            procedures.append(Procedure(
                "ptp_align_execute", "%s_r%d" % (f, rank),
                ["plan", "frames", "shifts", "plane_shifts", "confidence", "desc"],
                [plan, frames, array("real(c_double)", "shifts", 2, "inout"), plane_shifts,
                 array("real(c_double)", "confidence", 1, "inout", optional=True),
                 desc_optional,
                 "type(c_ptr) :: frame_pointers(size(frames, %d)), p_shifts, p_planes, "
                 "p_confidence" % rank, locals_],
                frame_pointers +
                checked("check_shape(where, 'shifts', %s, [2_c_int64_t, m], "
                        "': (dy, dx) per frame')" % shape("shifts")) +
                align_output_checks(confidence=True) +
                ["p_shifts = c_null_ptr; p_planes = c_null_ptr; p_confidence = c_null_ptr",
                 loc("shifts", "p_shifts")] + loc_optional("plane_shifts", "p_planes") +
                loc_optional("confidence", "p_confidence") +
                ["status = ptp_align_execute(plan, frame_pointers, m, p_shifts, p_planes, "
                 "p_confidence)"]))
            procedures.append(Procedure(
                "ptp_align_execute_frames", "%s_r%d" % (f, rank),
                ["plan", "frames", "results", "plane_shifts", "desc"],
                [plan, frames, "type(ptp_align_result), intent(inout), contiguous :: results(:)",
                 plane_shifts, desc_optional,
                 "type(c_ptr) :: frame_pointers(size(frames, %d)), p_planes" % rank, locals_],
                frame_pointers +
                checked("check_shape(where, 'results', %s, [m], ': one per frame')"
                        % shape("results")) +
                align_output_checks(confidence=False) +
                ["p_planes = c_null_ptr"] + loc_optional("plane_shifts", "p_planes") +
                ["status = ptp_align_execute_frames(plan, frame_pointers, m, results, p_planes)"]))
    return procedures


# ------------------------------------------------------------------ output

def generate():
    """(specification part, procedures, count)."""
    procedures = extract_procedures() + group_procedures() + align_procedures()
    generics = {}
    for p in procedures:
        generics.setdefault(p.generic, []).append(p.name)
    names = [p.name for p in procedures]
    spec = wrap("private :: " + ", ".join(names), "  ")
    for generic, specifics in generics.items():
        spec.append("  interface %s" % generic)
        spec += wrap("procedure :: " + ", ".join([generic] + specifics), "    ")
        spec.append("  end interface %s" % generic)
    body = "\n\n".join(p.text() for p in procedures)
    return "\n".join(spec), body, len(procedures)


def replace_region(text, begin, end, content):
    """The lines strictly between the line holding begin and the line
    holding end become content."""
    start = text.index("\n", text.index(begin)) + 1
    stop = text.rindex("\n", 0, text.index(end, start)) + 1
    return text[:start] + content + "\n" + text[stop:]


def main():
    spec, body, count = generate()
    text = MODULE.read_text()
    new = replace_region(text, "! BEGIN typed generics", "! END typed generics", spec)
    new = replace_region(new, "! BEGIN typed procedures", "! END typed procedures", body)
    if "--check" in sys.argv[1:]:
        if new != text:
            print("%s: the typed generics are out of date; run python3 %s"
                  % (MODULE, pathlib.Path(__file__).resolve()))
            return 1
        print("%s: %d typed procedures, up to date" % (MODULE.name, count))
        return 0
    if new != text:
        MODULE.write_text(new)
        print("rewrote the typed generics of %s (%d procedures)" % (MODULE, count))
    else:
        print("%s is up to date (%d procedures)" % (MODULE, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
