"""The Tensor object and the reverse-mode engine: creation, dtypes, grad mode, backward() semantics."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import ops
from glassnet.tensor import Parameter, Tensor, enable_grad, is_grad_enabled, make_result, no_grad, tensor


# ----------------------------------------------------------------------------- creation and dtypes
class TestCreation:
    def test_list_of_floats_is_float32(self):
        t = tensor([1.5, 2.5])
        assert t.dtype == np.float32
        assert t.shape == (2,)
        np.testing.assert_array_equal(t.numpy(), [1.5, 2.5])

    def test_python_scalar_is_float32_zero_d(self):
        t = tensor(3.0)
        assert t.dtype == np.float32 and t.shape == () and t.ndim == 0 and t.size == 1

    def test_numpy_float_arrays_keep_their_dtype(self):
        for dtype in (np.float16, np.float32, np.float64):
            assert tensor(np.zeros(3, dtype=dtype)).dtype == dtype

    def test_integers_become_float32(self):
        assert tensor([1, 2, 3]).dtype == np.float32
        assert tensor(np.arange(4)).dtype == np.float32
        assert tensor(np.arange(4, dtype=np.uint8)).dtype == np.float32
        assert tensor(7).dtype == np.float32

    def test_dtype_override(self):
        assert tensor([1, 2], dtype="float64").dtype == np.float64
        assert tensor(np.zeros(2, dtype=np.float32), dtype=np.float64).dtype == np.float64
        t = tensor([1, 2], dtype="int64")
        assert t.dtype == np.int64
        np.testing.assert_array_equal(t.numpy(), [1, 2])

    def test_nested_lists_shape(self):
        assert tensor([[1, 2, 3], [4, 5, 6]]).shape == (2, 3)

    def test_tensor_of_tensor(self):
        a = tensor([1.0, 2.0], dtype="float64")
        b = tensor(a)
        assert b.dtype == np.float64
        np.testing.assert_array_equal(b.numpy(), a.numpy())
        assert not b.requires_grad

    def test_numpy_returns_the_values_and_item(self):
        data = np.array([[1.0, 2.0]], dtype=np.float64)
        t = tensor(data)
        assert isinstance(t.numpy(), np.ndarray)
        np.testing.assert_array_equal(t.numpy(), data)
        assert tensor(2.5).item() == 2.5
        assert isinstance(tensor(2.5).item(), float)
        assert tensor([[4.0]]).item() == 4.0
        with pytest.raises(ValueError):
            tensor([1.0, 2.0]).item()

    def test_float_int_len_and_np_asarray(self):
        assert float(tensor(1.5)) == 1.5
        assert int(tensor(3.0)) == 3
        assert len(tensor([1.0, 2.0, 3.0])) == 3
        np.testing.assert_array_equal(np.asarray(tensor([1.0, 2.0])), [1.0, 2.0])
        assert np.asarray(tensor([1.0, 2.0]), dtype=np.float64).dtype == np.float64

    def test_numpy_array_protocol_copies_only_when_asked(self):
        t = tensor([1.0, 2.0])
        assert np.shares_memory(np.asarray(t), t.numpy())  # copy=None: no copy needed
        copied = np.array(t)  # copy=True by default: must not alias the tensor
        copied[0] = 99.0
        np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
        same_dtype = np.array(t, dtype=np.float32)
        same_dtype[1] = 77.0
        np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
        with pytest.raises(ValueError):
            np.asarray(t, dtype=np.float64, copy=False)

    def test_integer_tensors_cannot_require_grad(self):
        with pytest.raises(TypeError, match="floating"):
            tensor([1, 2], dtype="int64", requires_grad=True)
        with pytest.raises(TypeError, match="floating"):
            tensor([1, 2], dtype="int32").requires_grad_()
        with pytest.raises(TypeError):
            tensor([True, False], dtype=bool, requires_grad=True)

    def test_int_list_may_require_grad_because_it_becomes_float(self):
        t = tensor([1, 2], requires_grad=True)
        assert t.dtype == np.float32 and t.requires_grad

    def test_repr_mentions_requires_grad_and_non_default_dtype(self):
        assert "requires_grad=True" in repr(tensor([1.0], requires_grad=True))
        assert "float64" in repr(tensor([1.0], dtype="float64"))
        assert "float64" not in repr(tensor([1.0]))


# ----------------------------------------------------------------------------- dtype of mixed arithmetic
class TestMixedDtypes:
    def test_python_float_keeps_float32(self):
        t = tensor([1.0, 2.0])
        for result in (t * 0.5, 0.5 * t, t + 1e-300, 2.0 - t, t / 3.0, 3.0 / t, t ** 2.0, 2.0 ** t):
            assert result.dtype == np.float32

    def test_numpy_float64_scalar_keeps_float32(self):
        t = tensor([1.0, 2.0])
        s = np.float64(0.5)
        for result in (t * s, s * t, t + s, s + t, s - t, s / t, t ** s):
            assert isinstance(result, Tensor)
            assert result.dtype == np.float32

    def test_float64_array_keeps_float32(self):
        t = tensor([1.0, 2.0])
        arr = np.array([3.0, 4.0], dtype=np.float64)
        for result in (t + arr, arr + t, t * arr, arr * t, arr - t, arr / t, t @ arr):
            assert isinstance(result, Tensor)
            assert result.dtype == np.float32

    def test_ndarray_operator_defers_to_tensor(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        arr = np.array([10.0, 20.0])
        out = arr + a
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.numpy(), [11.0, 22.0])
        assert out.requires_grad
        out = arr * a
        assert isinstance(out, Tensor)
        out.sum().backward()
        np.testing.assert_allclose(a.grad, [10.0, 20.0])

    def test_ndarray_matmul_and_sub_defer(self):
        a = tensor(np.eye(2), requires_grad=True)
        m = np.array([[1.0, 2.0], [3.0, 4.0]])
        out = m @ a
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.numpy(), m)
        out = m - a
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.numpy(), m - np.eye(2))

    def test_int_array_with_float32_tensor(self):
        t = tensor([1.0, 2.0])
        assert (t + np.array([1, 2])).dtype == np.float32

    def test_float64_tensor_stays_float64(self):
        t = tensor([1.0, 2.0], dtype="float64")
        assert (t * 0.5).dtype == np.float64
        assert (t + np.float32(1.0)).dtype == np.float64

    def test_gradient_of_mixed_float32_float64_has_leaf_dtype(self):
        a = tensor([1.0, 2.0], requires_grad=True)  # float32
        b = tensor(np.array([3.0, 4.0]), requires_grad=True)  # float64
        out = a * b
        assert out.dtype == np.float64
        out.sum().backward()
        assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
        np.testing.assert_allclose(a.grad, [3.0, 4.0])
        np.testing.assert_allclose(b.grad, [1.0, 2.0])


# ----------------------------------------------------------------------------- detach / grad mode
class TestGradMode:
    def test_detach_cuts_the_graph_and_shares_data(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        b = (a * 2).detach()
        assert not b.requires_grad and b.is_leaf
        c = a.detach()
        assert np.shares_memory(c.numpy(), a.numpy())
        assert c.dtype == a.dtype

    def test_detach_keeps_integer_and_float64_dtype(self):
        assert tensor([1, 2], dtype="int64").detach().dtype == np.int64
        assert tensor([1.0], dtype="float64").detach().dtype == np.float64

    def test_detached_branch_receives_no_gradient(self):
        a = tensor([2.0, 3.0], requires_grad=True)
        y = a * a.detach()
        y.sum().backward()
        np.testing.assert_allclose(a.grad, [2.0, 3.0])  # not 2a

    def test_no_grad_context_records_nothing(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        assert is_grad_enabled()
        with no_grad():
            assert not is_grad_enabled()
            b = a * 3 + 1
        assert is_grad_enabled()
        assert not b.requires_grad
        assert b.is_leaf and b._parents == ()
        np.testing.assert_allclose(b.numpy(), [4.0, 7.0])
        with pytest.raises(RuntimeError, match="does not require gradients"):
            b.sum().backward()

    def test_no_grad_as_decorator(self):
        @no_grad()
        def double(x):
            """doc"""
            assert not is_grad_enabled()
            return x * 2

        a = tensor([1.0], requires_grad=True)
        out = double(a)
        assert not out.requires_grad
        assert is_grad_enabled()
        assert double.__name__ == "double" and double.__doc__ == "doc"

    def test_no_grad_restored_after_exception(self):
        with pytest.raises(ZeroDivisionError):
            with no_grad():
                1 / 0
        assert is_grad_enabled()

    def test_enable_grad_inside_no_grad(self):
        a = tensor([1.0], requires_grad=True)
        with no_grad():
            with enable_grad():
                assert is_grad_enabled()
                b = a * 2
            assert not is_grad_enabled()
            c = a * 2
        assert b.requires_grad and not c.requires_grad
        b.backward(np.ones(1))
        np.testing.assert_allclose(a.grad, [2.0])

    def test_enable_grad_as_decorator(self):
        @enable_grad()
        def double(x):
            return x * 2

        a = tensor([1.0], requires_grad=True)
        with no_grad():
            out = double(a)
            assert not is_grad_enabled()
        assert out.requires_grad

    def test_nested_no_grad(self):
        with no_grad():
            with no_grad():
                pass
            assert not is_grad_enabled()
        assert is_grad_enabled()

    def test_requires_grad_propagation(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        c = tensor([3.0, 4.0])
        assert (a + c).requires_grad
        assert (c + a).requires_grad
        assert not (c * c).requires_grad
        assert ops.exp(a).requires_grad and not ops.exp(c).requires_grad
        assert not (a > c).requires_grad  # comparisons have no gradient
        assert not ops.argmax(a).requires_grad
        assert a.is_leaf and not (a + c).is_leaf

    def test_requires_grad_underscore(self):
        t = tensor([1.0])
        assert t.requires_grad_() is t and t.requires_grad
        t.requires_grad_(False)
        assert not t.requires_grad


# ----------------------------------------------------------------------------- backward semantics
class TestBackward:
    def test_scalar_seed_is_one(self):
        a = tensor([1.0, 2.0, 3.0], requires_grad=True)
        (a * a).sum().backward()
        np.testing.assert_allclose(a.grad, [2.0, 4.0, 6.0])

    def test_one_element_non_scalar_output_needs_no_seed(self):
        a = tensor([[2.0]], requires_grad=True)
        (a * 3).backward()
        np.testing.assert_allclose(a.grad, [[3.0]])

    def test_non_scalar_seed(self):
        a = tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = a * a
        y.backward(np.array([1.0, 10.0, 100.0]))
        np.testing.assert_allclose(a.grad, [2.0, 40.0, 600.0])

    def test_non_scalar_seed_as_tensor(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        (a * 3).backward(tensor([1.0, -1.0]))
        np.testing.assert_allclose(a.grad, [3.0, -3.0])

    def test_non_scalar_without_seed_raises(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="non-scalar"):
            (a * 2).backward()

    def test_seed_of_wrong_shape_raises(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(ValueError, match="shape"):
            (a * 2).backward(np.ones(3))

    def test_backward_on_leaf(self):
        a = tensor(3.0, requires_grad=True)
        a.backward()
        assert a.grad == 1.0

    def test_backward_without_requires_grad_raises(self):
        with pytest.raises(RuntimeError):
            tensor([1.0]).sum().backward()

    def test_accumulation_across_two_backward_calls(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        (a * 3).sum().backward()
        (a * a).sum().backward()
        np.testing.assert_allclose(a.grad, [3.0 + 2.0, 3.0 + 4.0])
        a.zero_grad()
        assert a.grad is None

    def test_graph_is_freed_after_backward(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        loss = (ops.exp(a) * 2).sum()
        loss.backward()
        with pytest.raises(RuntimeError, match="second time"):
            loss.backward()

    def test_freed_graph_detected_from_another_root(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        hidden = ops.exp(a)
        hidden.sum().backward()
        with pytest.raises(RuntimeError, match="retain_graph"):
            (hidden * 2).sum().backward()

    def test_retain_graph_allows_second_backward(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        loss = (a * a).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        np.testing.assert_allclose(a.grad, 2 * np.array([2.0, 4.0]))

    def test_node_used_twice(self):
        x = tensor(np.array([1.5, -2.0]), requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad, 2 * x.numpy())

    def test_node_added_to_itself(self):
        x = tensor(np.array([1.5, -2.0]), requires_grad=True)
        (x + x + x).sum().backward()
        np.testing.assert_allclose(x.grad, [3.0, 3.0])

    def test_diamond_graph(self):
        x = tensor(np.array([0.3, 0.7]), requires_grad=True)
        h = ops.exp(x)              # shared intermediate
        left = h * 2.0
        right = ops.sin(h)
        (left + right).sum().backward()
        e = np.exp(x.numpy())
        np.testing.assert_allclose(x.grad, e * (2.0 + np.cos(e)))

    def test_deep_diamond_chain(self):
        x = tensor(np.array([0.1]), requires_grad=True)
        y = x
        for _ in range(10):
            y = y * 0.5 + y * 0.5  # each level uses y twice
        y.sum().backward()
        np.testing.assert_allclose(x.grad, [1.0])

    def test_long_chain_has_no_recursion_limit(self):
        x = tensor(np.array([1.0]), requires_grad=True)
        y = x
        for _ in range(5000):
            y = y + 0.0
        y.sum().backward()
        np.testing.assert_allclose(x.grad, [1.0])

    def test_leaf_grads_do_not_alias(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        b = tensor([3.0, 4.0], requires_grad=True)
        (a + b).sum().backward()
        assert not np.shares_memory(a.grad, b.grad)
        a.grad += 100.0
        np.testing.assert_allclose(b.grad, [1.0, 1.0])

    def test_leaf_grad_does_not_alias_the_seed(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        seed = np.array([1.0, 1.0], dtype=np.float32)
        (a + 0.0).backward(seed)
        a.grad *= 5
        np.testing.assert_allclose(seed, [1.0, 1.0])
        b = tensor([1.0, 2.0], requires_grad=True)
        b.backward(seed)
        b.grad *= 7
        np.testing.assert_allclose(seed, [1.0, 1.0])

    def test_leaf_grad_does_not_alias_a_broadcast_view(self):
        a = tensor(np.array([1.0, 2.0]), requires_grad=True)
        (a * 1.0).sum().backward()  # sum's backward is a read-only broadcast view
        a.grad[0] = 42.0  # must be writable and own its memory
        assert a.grad.flags.writeable

    def test_grad_dtype_and_shape_match_the_leaf(self):
        for dtype in (np.float32, np.float64):
            a = tensor(np.ones((3, 1), dtype=dtype), requires_grad=True)
            b = tensor(np.ones((1, 4), dtype=dtype), requires_grad=True)
            (a * b).sum().backward()
            assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4)
            assert a.grad.dtype == dtype and b.grad.dtype == dtype
            np.testing.assert_allclose(a.grad, np.full((3, 1), 4.0))
            np.testing.assert_allclose(b.grad, np.full((1, 4), 3.0))

    def test_scalar_leaf_grad_shape(self):
        s = tensor(2.0, requires_grad=True)
        x = tensor([1.0, 2.0, 3.0])
        (s * x).sum().backward()
        assert s.grad.shape == () and s.grad == pytest.approx(6.0)

    def test_only_leaves_that_require_grad_get_grad(self):
        a = tensor([1.0], requires_grad=True)
        c = tensor([2.0])
        mid = a * c
        (mid * 2).sum().backward()
        assert c.grad is None
        assert mid.grad is None  # intermediate results keep no grad (as in PyTorch)
        np.testing.assert_allclose(a.grad, [4.0])

    def test_backward_through_unused_branch(self):
        a = tensor([1.0, 2.0], requires_grad=True)
        b = tensor([1.0, 2.0], requires_grad=True)
        _ = b * 3  # never reaches the loss
        (a * 2).sum().backward()
        assert b.grad is None


class TestHooks:
    def test_hook_sees_the_gradient_of_intermediate_and_leaf(self):
        a = tensor(np.array([1.0, 2.0]), requires_grad=True)
        mid = a * 3
        seen = {}
        mid.register_hook(lambda g: seen.__setitem__("mid", np.array(g)))
        a.register_hook(lambda g: seen.__setitem__("a", np.array(g)))
        (mid * mid).sum().backward()
        np.testing.assert_allclose(seen["mid"], 2 * mid.numpy())
        np.testing.assert_allclose(seen["a"], 18 * a.numpy())
        np.testing.assert_allclose(a.grad, 18 * a.numpy())

    def test_hook_called_once_with_summed_gradient(self):
        a = tensor(np.array([1.0]), requires_grad=True)
        mid = a * 1.0
        calls = []
        mid.register_hook(lambda g: calls.append(float(g[0])))
        (mid + mid + mid).sum().backward()
        assert calls == [3.0]


class TestParameter:
    def test_parameter_is_a_trainable_leaf(self):
        p = Parameter(np.zeros((2, 3), dtype=np.float32), name="w")
        assert p.requires_grad and p.is_leaf and p.trainable
        assert isinstance(p, Tensor)
        q = Parameter(np.zeros(2), trainable=False)
        assert not q.requires_grad

    def test_assign_keeps_the_array_object(self):
        p = Parameter(np.zeros((2, 2), dtype=np.float32), name="w")
        array = p.data
        view = p.data[0]
        p.assign(np.ones((2, 2)))
        assert p.data is array
        assert p.dtype == np.float32
        np.testing.assert_array_equal(view, [1.0, 1.0])
        p.assign(tensor(np.full((2, 2), 3.0)))
        assert p.data is array
        np.testing.assert_array_equal(p.numpy(), np.full((2, 2), 3.0))

    def test_assign_wrong_shape_raises(self):
        p = Parameter(np.zeros((2, 2)), name="w")
        with pytest.raises(ValueError, match=r"\(3,\)"):
            p.assign(np.zeros(3))

    def test_parameter_gets_gradient(self):
        p = Parameter(np.array([1.0, 2.0]), name="w")
        (p * p).sum().backward()
        np.testing.assert_allclose(p.grad, [2.0, 4.0])


class TestMakeResult:
    def test_make_result_records_only_when_needed(self):
        a = tensor([1.0], requires_grad=True)
        c = tensor([1.0])
        out = make_result(a.data * 2, (a,), lambda g: (g * 2,), "double")
        assert out.requires_grad and out._parents == (a,)
        const = make_result(c.data * 2, (c,), lambda g: (g * 2,), "double")
        assert not const.requires_grad and const._parents == ()
        with no_grad():
            off = make_result(a.data * 2, (a,), lambda g: (g * 2,), "double")
        assert not off.requires_grad

    def test_package_exports(self):
        assert gn.tensor is tensor and gn.no_grad is no_grad and gn.Parameter is Parameter
