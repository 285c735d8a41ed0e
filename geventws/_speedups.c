/* Optional C accelerator for geventws: masking and frame building at memory speed.
 *
 * apply_mask(data, mask), build_frame(first, data, mask), new_mask() and
 * build_masked_frame(first, data) are the twins of geventws/_mask.py; the package
 * imports this module when it was built and falls back to the Python ones when
 * not. The loop XORs 8 bytes at a time with the mask widened to a 64-bit word.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Below this many bytes releasing the GIL costs more than the XOR it frees. */
#define GIL_RELEASE_MIN 65536

/* out[i] = in[i] ^ m[i & 3] for n bytes; in and out may be the same buffer. */
static void
xor_mask(const unsigned char *in, unsigned char *out, Py_ssize_t n, const unsigned char *m)
{
    Py_ssize_t i = 0;
    uint64_t wide;
    unsigned char m8[8];
    int k;
    for (k = 0; k < 8; k++)
        m8[k] = m[k & 3];
    memcpy(&wide, m8, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, in + i, 8);
        w ^= wide;
        memcpy(out + i, &w, 8);
    }
    for (; i < n; i++)
        out[i] = in[i] ^ m[i & 3];
}

static void
xor_mask_maybe_unlocked(const unsigned char *in, unsigned char *out, Py_ssize_t n,
                        const unsigned char *m)
{
    if (n < GIL_RELEASE_MIN) {
        xor_mask(in, out, n, m);
    } else {
        Py_BEGIN_ALLOW_THREADS
        xor_mask(in, out, n, m);
        Py_END_ALLOW_THREADS
    }
}

static PyObject *
apply_mask(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"data", "mask", NULL};
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*y*", kwlist, &data, &mask))
        return NULL;
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL)
        goto done;
    xor_mask_maybe_unlocked((const unsigned char *)data.buf,
                            (unsigned char *)PyBytes_AS_STRING(result), data.len,
                            (const unsigned char *)mask.buf);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

/* A new bytes object for a frame with an n-byte payload (and a key when mask_bit
 * is 0x80): writes the 2-10 header bytes and points *rest at what follows them. */
static PyObject *
new_frame(int first, Py_ssize_t n, int mask_bit, unsigned char **rest)
{
    Py_ssize_t hlen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    PyObject *result = PyBytes_FromStringAndSize(NULL, hlen + (mask_bit ? 4 : 0) + n);
    unsigned char *out;
    int k;

    if (result == NULL)
        return NULL;
    out = (unsigned char *)PyBytes_AS_STRING(result);
    out[0] = (unsigned char)first;
    if (n < 126) {
        out[1] = (unsigned char)(mask_bit | n);
    } else if (n < 65536) {
        out[1] = (unsigned char)(mask_bit | 126);
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
    } else {
        out[1] = (unsigned char)(mask_bit | 127);
        for (k = 0; k < 8; k++)
            out[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
    }
    *rest = out + hlen;
    return result;
}

/* build_frame(first, data, mask=None) -> bytes: one frame in one allocation.
 *
 * first is the header's first byte (FIN | RSV | opcode); mask is a 4-byte key
 * (the client role: mask bit, key, masked payload) or None (the server role).
 * Header, key and payload are written straight into the result, so a send
 * costs one allocation and one pass over the payload.
 */
static PyObject *
build_frame(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"first", "data", "mask", NULL};
    int first;
    Py_buffer data;
    PyObject *mask_obj = Py_None;
    Py_buffer mask = {0};
    PyObject *result = NULL;
    unsigned char *out;
    int masked;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*|O", kwlist, &first, &data, &mask_obj))
        return NULL;
    if (first < 0 || first > 255) {
        PyErr_SetString(PyExc_ValueError, "first must be a byte (0-255)");
        PyBuffer_Release(&data);
        return NULL;
    }
    masked = mask_obj != Py_None;
    if (masked) {
        if (PyObject_GetBuffer(mask_obj, &mask, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&data);
            return NULL;
        }
        if (mask.len != 4) {
            PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
            goto done;
        }
    }
    result = new_frame(first, data.len, masked ? 0x80 : 0, &out);
    if (result == NULL)
        goto done;
    if (masked) {
        memcpy(out, mask.buf, 4);
        xor_mask_maybe_unlocked((const unsigned char *)data.buf, out + 4, data.len,
                                (const unsigned char *)mask.buf);
    } else if (data.len) {
        memcpy(out, data.buf, (size_t)data.len);
    }
done:
    PyBuffer_Release(&data);
    if (masked)
        PyBuffer_Release(&mask);
    return result;
}

/* Masking keys: 4 KiB of os.urandom() output served 4 bytes at a time, so a frame
 * costs no system call (one per 1,024 frames). RFC 6455 §5.3 asks for keys an
 * intermediary cannot predict, which the OS's CSPRNG gives. reset_mask_pool()
 * drops what is left; the package calls it in a forked child, which must not
 * reuse its parent's keys. */
#define POOL_SIZE 4096
static unsigned char pool[POOL_SIZE];
static Py_ssize_t pool_pos = POOL_SIZE;
static PyObject *urandom_func = NULL;

static int
take_key(unsigned char *key)
{
    if (pool_pos + 4 > POOL_SIZE) {
        PyObject *fresh = PyObject_CallFunction(urandom_func, "n", (Py_ssize_t)POOL_SIZE);
        if (fresh == NULL)
            return -1;
        if (!PyBytes_Check(fresh) || PyBytes_GET_SIZE(fresh) != POOL_SIZE) {
            Py_DECREF(fresh);
            PyErr_SetString(PyExc_RuntimeError, "os.urandom returned an unexpected value");
            return -1;
        }
        memcpy(pool, PyBytes_AS_STRING(fresh), POOL_SIZE);
        Py_DECREF(fresh);
        pool_pos = 0;
    }
    memcpy(key, pool + pool_pos, 4);
    pool_pos += 4;
    return 0;
}

static PyObject *
new_mask(PyObject *self, PyObject *unused)
{
    unsigned char key[4];
    if (take_key(key) < 0)
        return NULL;
    return PyBytes_FromStringAndSize((const char *)key, 4);
}

static PyObject *
reset_mask_pool(PyObject *self, PyObject *unused)
{
    pool_pos = POOL_SIZE;
    Py_RETURN_NONE;
}

/* build_masked_frame(first, data) -> bytes: a client's frame with a fresh key.
 *
 * The same bytes as build_frame(first, data, new_mask()), for the send hot path:
 * positional arguments only and no key object. */
static PyObject *
build_masked_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long first;
    Py_buffer data;
    PyObject *result = NULL;
    unsigned char *out;
    unsigned char key[4];

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "build_masked_frame(first, data) takes 2 arguments");
        return NULL;
    }
    first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred())
        return NULL;
    if (first < 0 || first > 255) {
        PyErr_SetString(PyExc_ValueError, "first must be a byte (0-255)");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (take_key(key) < 0)
        goto done;
    result = new_frame((int)first, data.len, 0x80, &out);
    if (result == NULL)
        goto done;
    memcpy(out, key, 4);
    xor_mask_maybe_unlocked((const unsigned char *)data.buf, out + 4, data.len, key);
done:
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"build_masked_frame", (PyCFunction)(void (*)(void))build_masked_frame, METH_FASTCALL,
     "build_masked_frame(first, data) -> bytes: build_frame with a fresh masking key."},
    {"new_mask", new_mask, METH_NOARGS, "new_mask() -> bytes: a fresh 4-byte masking key."},
    {"reset_mask_pool", reset_mask_pool, METH_NOARGS,
     "reset_mask_pool(): forget the buffered random bytes (call in a forked child)."},
    {"build_frame", (PyCFunction)(void (*)(void))build_frame, METH_VARARGS | METH_KEYWORDS,
     "build_frame(first, data, mask=None) -> bytes: header, key and (masked) payload."},
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_VARARGS | METH_KEYWORDS,
     "apply_mask(data, mask) -> bytes: XOR data with the 4-byte mask repeated."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "geventws._speedups", "C accelerator for geventws.", -1,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *os_module;
    if (urandom_func == NULL) {
        os_module = PyImport_ImportModule("os");
        if (os_module == NULL)
            return NULL;
        urandom_func = PyObject_GetAttrString(os_module, "urandom");
        Py_DECREF(os_module);
        if (urandom_func == NULL)
            return NULL;
    }
    return PyModule_Create(&speedups_module);
}
