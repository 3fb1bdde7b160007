r"""What :mod:`bnlib.checks` tells a student, in every language it speaks: one catalogue.

Each entry maps a key (the check's name for the message; a mistake's message uses the mistake's
key) to one template per language, filled in with :meth:`str.format`. Both languages of an entry
take the same fields with the same formats, and formulas are written the same way in both, so a
message says the same thing whichever language is chosen. ``tests/test_messages.py`` checks that
every entry has every language, that their fields agree, and that every key the checks use is here.

The Chinese follows the series' glossary (``GLOSSARY.md``): 批量归一化 (BN), 通道 (channel), 均值,
有偏方差 / 无偏方差, 动量 (``momentum``), 滑动估计 (running estimates); code and formulas stay as
they are.

Pure Python: no numpy, no torch.
"""

LANGUAGES = ("en", "zh")  # English, and simplified Chinese (zh-CN)

MESSAGES: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------ the verdict
    "passed": {"en": "PASSED", "zh": "通过"},
    "not_yet": {"en": "NOT YET", "zh": "尚未通过"},
    "passed_markdown": {"en": "✅ **passed**", "zh": "✅ **通过**"},
    "not_yet_markdown": {"en": "❌ **not yet**", "zh": "❌ **尚未通过**"},
    "result": {"en": "{exercise}: {verdict}. {message}", "zh": "{exercise}：{verdict}。{message}"},
    "result_markdown": {"en": "`{exercise}`: {verdict}. {message}", "zh": "`{exercise}`：{verdict}。{message}"},
    # ------------------------------------------------------------ the graded contract
    "not_callable": {
        "en": "expected your function, got {kind}: pass the function itself.",
        "zh": "这里需要的是你的函数，收到的却是 {kind}：请传入函数本身。",
    },
    "signature_positional": {
        "en": "the graded cells call your function with {positional} positional arguments ({shown}), and it "
        "cannot be called that way: {error}. Keep the exercise's signature: `def {signature}`.",
        "zh": "评分单元格以 {positional} 个位置参数调用你的函数（{shown}），但它无法这样调用：{error}。"
        "请保留练习给出的函数签名：`def {signature}`。",
    },
    "signature_keywords": {
        "en": "the graded cells call your function with {positional} positional arguments and {keywords} by "
        "name ({shown}), and it cannot be called that way: {error}. Keep the exercise's signature: "
        "`def {signature}`.",
        "zh": "评分单元格以 {positional} 个位置参数、并按名字传入 {keywords} 来调用你的函数（{shown}），"
        "但它无法这样调用：{error}。请保留练习给出的函数签名：`def {signature}`。",
    },
    "signature_default": {
        "en": "`{name}` defaults to {value}; the graded cells rely on the exercise's default, `{name}={default}`: "
        "keep `def {signature}`.",
        "zh": "`{name}` 的默认值是 {value}；评分单元格依赖练习规定的默认值 `{name}={default}`："
        "请保留 `def {signature}`。",
    },
    "not_implemented": {
        "en": "not implemented yet: replace `raise NotImplementedError()` with your code.",
        "zh": "还没有实现：请用你的代码替换 `raise NotImplementedError()`。",
    },
    "raised": {
        "en": "your function raised {kind}: {error}.{hint}",
        "zh": "你的函数抛出了 {kind}：{error}。{hint}",
    },
    "broadcast_bn": {
        "en": " A broadcasting error usually means a statistic or γ/β has the wrong shape: for (N, C) input a "
        "per-channel vector has shape (C,); for (N, C, H, W) input it must be reshaped to (1, C, 1, 1) "
        "before it meets x.",
        "zh": "广播（broadcasting）错误通常说明某个统计量或 γ/β 的形状不对：对 (N, C) 输入，逐通道的向量形状为 "
        "(C,)；对 (N, C, H, W) 输入，它必须先变形为 (1, C, 1, 1) 才能与 x 相运算。",
    },
    "broadcast_ln": {
        "en": " A broadcasting error usually means a per-example statistic lost its axis: `x.mean(axis=1)` has "
        "shape (N,) and must be (N, 1) to meet x (`keepdims=True`); γ and β have shape (D,) and broadcast "
        "along the rows as they are.",
        "zh": "广播（broadcasting）错误通常说明某个逐样本的统计量丢了一个轴：`x.mean(axis=1)` 的形状是 (N,)，"
        "要与 x 相运算必须是 (N, 1)（`keepdims=True`）；γ 和 β 的形状是 (D,)，原样即可沿各行广播。",
    },
    "broadcast_fold": {
        "en": " A broadcasting error usually means s is applied on the wrong axis: s has shape (out,), "
        "and row c of W (shape (out, in)) is multiplied by s_c: `W * s[:, None]`.",
        "zh": "广播（broadcasting）错误通常说明 s 乘错了轴：s 的形状是 (out,)，W（形状 (out, in)）的第 c 行"
        "乘以 s_c：`W * s[:, None]`。",
    },
    "in_place": {
        "en": "your function changed its argument `{name}` in place (an augmented assignment such as "
        "`{name} *= ...` or `{name} -= ...`, a slice assignment `{name}[...] = ...`, or `out=`). "
        "The exercise asks you to leave the arrays you are given unchanged: the caller still "
        "holds them and the graded cells reuse them. Compute a new array: `new = {name} * ...` "
        "makes one.",
        "zh": "你的函数原地修改了参数 `{name}`（例如增强赋值 `{name} *= ...` 或 `{name} -= ...`、切片赋值 "
        "`{name}[...] = ...`，或 `out=`）。练习要求不改动传入的数组：调用者仍持有它们，评分单元格还会再用。"
        "请计算一个新数组：`new = {name} * ...` 就会生成新数组。",
    },
    "returned_tuple": {
        "en": "return {what} only, not ({what}, cache): the graded cells use what your function returns "
        "as the array {what} (`{what}.shape`). CS231n's assignment returns a cache for its "
        "backward pass; here the backward pass is its own exercise. Got a tuple of length {length}.",
        "zh": "只返回 {what}，不要返回 ({what}, cache)：评分单元格把你的函数的返回值当作数组 {what} 使用"
        "（`{what}.shape`）。CS231n 的作业为反向传播返回一个 cache；这里反向传播是单独的练习。"
        "收到的是长度为 {length} 的 tuple。",
    },
    "wrong_return": {
        "en": "return a tuple {names}; got {kind}.",
        "zh": "请返回 tuple {names}；收到的是 {kind}。",
    },
    "wrong_return_length": {
        "en": "return a tuple {names}; got {kind} of length {length}.",
        "zh": "请返回 tuple {names}；收到的是长度为 {length} 的 {kind}。",
    },
    "advice_return": {"en": "did you forget `return`?", "zh": "是不是忘了写 `return`？"},
    "advice_torch": {
        "en": "return a numpy array (`.detach().numpy()`, or compute with numpy from the start).",
        "zh": "请返回 numpy 数组（`.detach().numpy()`，或者从头就用 numpy 计算）。",
    },
    "advice_list": {
        "en": "return a numpy array, e.g. `np.array(...)`, shaped {shape}.",
        "zh": "请返回形状为 {shape} 的 numpy 数组，例如 `np.array(...)`。",
    },
    "advice_array": {"en": "return a numpy array of shape {shape}.", "zh": "请返回形状为 {shape} 的 numpy 数组。"},
    "not_an_array": {
        "en": "{what} should be a numpy array of shape {shape}, got {kind}: {advice}",
        "zh": "{what} 应当是形状为 {shape} 的 numpy 数组，收到的却是 {kind}：{advice}",
    },
    "wrong_dtype": {
        "en": "{what} has dtype {dtype}; return floating-point numbers (float64, like the inputs).",
        "zh": "{what} 的 dtype 是 {dtype}；请返回浮点数（与输入一样用 float64）。",
    },
    "wrong_shape": {
        "en": "{what} has shape {got}, expected {shape}.",
        "zh": "{what} 的形状是 {got}，应当是 {shape}。",
    },
    "not_finite": {
        "en": "{what} contains NaN or inf ({count} of {size} values, the first at index {first}): look for "
        "a division by zero or the square root of a negative number.",
        "zh": "{what} 含有 NaN 或 inf（{size} 个值中有 {count} 个，第一个在下标 {first}）："
        "请检查是否除以了零，或对负数开了平方根。",
    },
    "unusable": {
        "en": "the check could not use what your function returned ({kind}: {error}). "
        "Return numpy arrays of the shapes the exercise asks for.",
        "zh": "检查无法使用你的函数的返回值（{kind}：{error}）。请按练习要求的形状返回 numpy 数组。",
    },
    # ------------------------------------------------------------ where an answer is wrong
    "where_channel": {
        "en": "It shows most in channel {channel} (off by up to {error:.2g} there).",
        "zh": "在通道 {channel} 上最明显（那里最多差 {error:.2g}）。",
    },
    "where_weight_row": {
        "en": "It shows most in row {row} of W, the weights of output feature {row} (off by up to {error:.2g} there).",
        "zh": "在 W 的第 {row} 行，即输出特征 {row} 的权重上最明显（那里最多差 {error:.2g}）。",
    },
    "where_output_feature": {
        "en": "It shows most in output feature {row} (off by up to {error:.2g} there).",
        "zh": "在输出特征 {row} 上最明显（那里最多差 {error:.2g}）。",
    },
    "where_example": {
        "en": "It shows most in example {example} (row {example}), feature {feature} (off by up to {error:.2g} there).",
        "zh": "在样本 {example}（第 {example} 行）的特征 {feature} 上最明显（那里最多差 {error:.2g}）。",
    },
    "where_feature": {
        "en": "It shows most in feature {feature} (off by up to {error:.2g} there).",
        "zh": "在特征 {feature} 上最明显（那里最多差 {error:.2g}）。",
    },
    "float32_input_rounded": {
        "en": "The returned array is float64, but `{name}` was rounded to float32 on the way in "
        "(`{name}.astype(np.float32)`, `np.float32(...)`, or a float32 torch tensor): "
        "that rounding is all of the difference.",
        "zh": "返回的数组是 float64，但 `{name}` 在输入时被舍入成了 float32（`{name}.astype(np.float32)`、"
        "`np.float32(...)`，或 float32 的 torch 张量）：差异全部来自这次舍入。",
    },
    "float32_middle": {
        "en": "The returned array is float64, so a step in the middle ran in float32 (look for "
        "`np.float32`, `astype(np.float32)`, `dtype=np.float32`, or a torch tensor in its default float32).",
        "zh": "返回的数组是 float64，所以是中间某一步用 float32 算的（查找 `np.float32`、`astype(np.float32)`、"
        "`dtype=np.float32`，或默认为 float32 的 torch 张量）。",
    },
    "float32_rounded_at_end": {
        "en": "Your computation is exact: only the result is rounded, to {dtype}, at the end "
        "(`.astype(...)`, or an output array made with a float32 dtype).",
        "zh": "你的计算本身是精确的：只是结果在最后被舍入成了 {dtype}（`.astype(...)`，或用 float32 dtype "
        "创建的输出数组）。",
    },
    "float32_throughout": {
        "en": "The returned array is {dtype}, and the computation ran in {dtype}: an input "
        "was converted, or an array was made with that dtype, and every later step kept its precision.",
        "zh": "返回的数组是 {dtype}，计算也是用 {dtype} 进行的：某个输入被转换了，或某个数组用这个 dtype "
        "创建，之后的每一步都沿用了它的精度。",
    },
    "float32": {
        "en": "{what} is right to float32 precision only, for {case} input: it differs from the float64 answer "
        "by up to {relative:.1g} relative (float32 resolves {resolution:.1g}). {where} {source} Compute in "
        "float64, the dtype of the inputs: the graded tests compare to 1e-10.",
        "zh": "对 {case}的输入，{what} 只在 float32 精度下正确：与 float64 的答案相差最多 {relative:.1g}（相对误差；"
        "float32 的分辨率是 {resolution:.1g}）。{where}{source}请用输入的 dtype，即 float64 计算："
        "评分测试的比较精度是 1e-10。",
    },
    "wrong_known": {
        "en": "{what} is wrong for {case} input. {message} {where}",
        "zh": "对 {case}的输入，{what} 有误。{message}{where}",
    },
    "wrong_values": {
        "en": "{what} is wrong for {case} input: it differs from the correct value by up to {error:.2g}. "
        "{where} Check each step against the equations above.",
        "zh": "对 {case}的输入，{what} 有误：与正确值最多相差 {error:.2g}。{where}请对照上面的公式逐步检查。",
    },
    "eps_ignored": {
        "en": "Your function ignores the `eps` it is given: the check passes eps={eps}, and your answer "
        "is the one for 1e-5. Use the argument, not a number of your own.",
        "zh": "你的函数没有使用传入的 `eps`：检查传入的是 eps={eps}，而你的答案对应的是 1e-5。"
        "请使用这个参数，而不是自己写的数。",
    },
    # ------------------------------------------------------------ what and for which input
    "what_y": {"en": "the output y", "zh": "输出 y"},
    "case_weight": {"en": "a {rows}x{columns} weight", "zh": "{rows}x{columns} 权重"},
    "case_square": {"en": "({rows}, {columns}) square", "zh": "({rows}, {columns}) 方阵"},
    "case_rectangular": {"en": "({rows}, {columns}) rectangular", "zh": "({rows}, {columns}) 非方阵"},
    # ------------------------------------------------------------ exercise 1: the forward pass
    "forward_channel_axis": {
        "en": "Your statistics are taken over the channels of each example (μ_B = (1/m) Σ x_i sums the wrong "
        "axis). BN takes one mean and one variance per channel, over the batch: `x.mean(axis=0)` "
        "for (N, C) input.",
        "zh": "你的统计量是在每个样本的各通道上求的（μ_B = (1/m) Σ x_i 求和的轴不对）。BN 对每个通道取一个均值"
        "和一个方差，在批量上求：对 (N, C) 输入是 `x.mean(axis=0)`。",
    },
    "forward_not_over_hw": {
        "en": "Your statistics are per channel *and* per pixel position (μ_B = (1/m) Σ x_i with m = N): for "
        "(N, C, H, W) input a channel's statistics pool the batch and all positions, m = N·H·W, "
        "`x.mean(axis=(0, 2, 3), keepdims=True)`.",
        "zh": "你的统计量是逐通道*并且*逐像素位置求的（μ_B = (1/m) Σ x_i 中 m = N）：对 (N, C, H, W) 输入，"
        "一个通道的统计量汇集整个批量和所有位置，m = N·H·W，`x.mean(axis=(0, 2, 3), keepdims=True)`。",
    },
    "forward_shared_scalar": {
        "en": "You use one mean and one variance for the whole input. BN keeps one of each "
        "per channel, so that every channel is normalised on its own.",
        "zh": "你对整个输入只用了一个均值和一个方差。BN 为每个通道各保留一个，使每个通道单独归一化。",
    },
    "forward_unbiased_variance": {
        "en": "You normalise with the unbiased variance (dividing by m - 1). Training-mode BN "
        "uses the biased batch variance, σ²_B = (1/m) Σ (x_i − μ_B)²; the unbiased one is only for "
        "the running estimate.",
        "zh": "你用无偏方差（除以 m - 1）做归一化。训练模式的 BN 用的是有偏的批方差 σ²_B = (1/m) Σ (x_i − μ_B)²；"
        "无偏方差只用于滑动估计。",
    },
    "forward_eps_outside_sqrt": {
        "en": "ε is added outside the square root, (x - μ) / (√σ² + ε). It belongs inside: "
        "x̂ = (x − μ_B) / √(σ²_B + ε). The two differ when a channel's variance is small, as in this "
        "check's third channel.",
        "zh": "ε 加在了平方根外面：(x - μ) / (√σ² + ε)。它应该在根号里面：x̂ = (x − μ_B) / √(σ²_B + ε)。"
        "当某个通道的方差很小时两者不同，比如本检查的第三个通道。",
    },
    "forward_no_sqrt": {
        "en": "You divide by the variance plus ε, not by its square root: x̂ = (x − μ_B) / √(σ²_B + ε).",
        "zh": "你除以的是方差加 ε，而不是它的平方根：x̂ = (x − μ_B) / √(σ²_B + ε)。",
    },
    "forward_gamma_beta_not_applied": {
        "en": "Your output is x̂ itself: γ and β are not applied. The output is y = γ·x̂ + β.",
        "zh": "你的输出就是 x̂ 本身：没有应用 γ 和 β。输出应为 y = γ·x̂ + β。",
    },
    "forward_gamma_beta_swapped": {
        "en": "γ and β are swapped: γ scales x̂ and β shifts it, y = γ·x̂ + β.",
        "zh": "γ 和 β 弄反了：γ 缩放 x̂，β 平移它，y = γ·x̂ + β。",
    },
    "forward_passed": {
        "en": "(N, C) and (N, C, H, W) inputs agree with bnlib, including a channel with a tiny "
        "variance (ε inside the square root) and γ, β applied per channel.",
        "zh": "(N, C) 和 (N, C, H, W) 输入的结果都与 bnlib 一致，包括方差极小的通道（ε 在根号里面），"
        "γ、β 也按通道应用。",
    },
    # ------------------------------------------------------------ exercise 2: running statistics
    "statistic_not_over_hw": {
        "en": "{what} has shape {shape}: the statistics of (N, C, H, W) input were not "
        "reduced over H and W. Reduce over axes (0, 2, 3) to get one value per channel.",
        "zh": "{what} 的形状是 {shape}：(N, C, H, W) 输入的统计量没有在 H 和 W 上归约。"
        "请在轴 (0, 2, 3) 上归约，使每个通道得到一个值。",
    },
    "statistic_channel_axis": {
        "en": "{what} has one value per example: the statistics were taken over the channels "
        "instead of over the batch (axis 0).",
        "zh": "{what} 每个样本有一个值：统计量是在通道上求的，而不是在批量上（轴 0）。",
    },
    "statistic_shared_scalar": {
        "en": "{what} is a single number: one statistic is shared by all channels. Keep one per channel, shape (C,).",
        "zh": "{what} 只是一个数：所有通道共用了一个统计量。请每个通道保留一个，形状为 (C,)。",
    },
    "running_mean_momentum_reversed": {
        "en": "The momentum weights are reversed: in PyTorch `momentum` is the weight "
        "of the *new* batch, new = (1 - momentum)·old + momentum·batch.",
        "zh": "动量（momentum）的权重弄反了：在 PyTorch 中 `momentum` 是*新*批量的权重，"
        "new = (1 - momentum)·old + momentum·batch。",
    },
    "running_mean_no_update": {
        "en": "The running mean did not change: return the updated estimate.",
        "zh": "滑动均值没有变化：请返回更新后的估计。",
    },
    "running_mean_batch_only": {
        "en": "You return the batch mean itself: blend it with the old estimate, (1 - momentum)·old + momentum·batch.",
        "zh": "你返回的是批均值本身：请把它与旧的估计混合，(1 - momentum)·old + momentum·batch。",
    },
    "running_mean_shared_scalar": {
        "en": "Every channel got the same batch mean: one statistic is shared by all "
        "channels. Take the mean per channel.",
        "zh": "每个通道得到的批均值都一样：所有通道共用了一个统计量。请逐通道求均值。",
    },
    "running_var_biased": {
        "en": "The running variance uses the biased batch variance (dividing by m). "
        "PyTorch stores the unbiased one: multiply by m / (m - 1), with m = N "
        "for (N, C) input and N·H·W for (N, C, H, W).",
        "zh": "滑动方差用的是有偏的批方差（除以 m）。PyTorch 存的是无偏方差：乘以 m / (m - 1)，"
        "对 (N, C) 输入 m = N，对 (N, C, H, W) 输入 m = N·H·W。",
    },
    "running_var_bessel_with_n": {
        "en": "The Bessel factor uses N / (N - 1), but a channel of (N, C, H, W) input "
        "has m = N·H·W values: use m / (m - 1).",
        "zh": "贝塞尔校正因子用了 N / (N - 1)，但 (N, C, H, W) 输入的一个通道有 m = N·H·W 个值：请用 m / (m - 1)。",
    },
    "running_var_momentum_reversed": {
        "en": "The momentum weights of the variance are reversed: new = (1 - momentum)·old + momentum·batch.",
        "zh": "方差的动量权重弄反了：new = (1 - momentum)·old + momentum·batch。",
    },
    "running_var_no_update": {
        "en": "The running variance did not change: return the updated estimate.",
        "zh": "滑动方差没有变化：请返回更新后的估计。",
    },
    "running_var_batch_only": {
        "en": "You return the batch variance itself: blend it with the old estimate.",
        "zh": "你返回的是批方差本身：请把它与旧的估计混合。",
    },
    "running_passed": {
        "en": "(N, C) and (N, C, H, W) inputs agree with PyTorch's convention: momentum weighs the new "
        "batch, and the running variance is the unbiased one, m / (m - 1) · σ²_B; the estimates "
        "you were given are left unchanged.",
        "zh": "(N, C) 和 (N, C, H, W) 输入的结果都符合 PyTorch 的约定：momentum 是新批量的权重，"
        "滑动方差是无偏的 m / (m - 1) · σ²_B；传入的估计没有被改动。",
    },
    # ------------------------------------------------------------ exercises 3 and 5: the backward pass
    "backward_missing_var_path": {
        "en": "dx misses the terms through σ²_B: σ² depends on every x, so the line "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m needs its "
        "middle term ∂L/∂σ²·2(x − μ)/m.",
        "zh": "dx 漏掉了经过 σ²_B 的项：σ² 依赖每一个 x，所以 "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m 这一行需要中间那一项 "
        "∂L/∂σ²·2(x − μ)/m。",
    },
    "backward_missing_mean_path": {
        "en": "dx misses the terms through μ_B: μ depends on every x, so the line "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m needs its "
        "last term ∂L/∂μ/m.",
        "zh": "dx 漏掉了经过 μ_B 的项：μ 依赖每一个 x，所以 "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m 这一行需要最后一项 ∂L/∂μ/m。",
    },
    "backward_no_statistics_path": {
        "en": "dx treats μ_B and σ²_B as constants (dx = γ·dy/√(σ² + ε), the first term of "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m only). In training mode "
        "they depend on x: add the paths through μ and σ².",
        "zh": "dx 把 μ_B 和 σ²_B 当成了常数（dx = γ·dy/√(σ² + ε)，只有 "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m 的第一项）。训练模式下它们"
        "依赖 x：请加上经过 μ 和 σ² 的路径。",
    },
    "backward_gamma_forgotten": {
        "en": "dx forgets γ: the line ∂L/∂x̂_i = γ·dy_i is missing, so dy reaches x̂ unscaled.",
        "zh": "dx 忘了 γ：缺少 ∂L/∂x̂_i = γ·dy_i 这一行，所以 dy 未经缩放就传到了 x̂。",
    },
    "backward_unbiased_variance": {
        "en": "The forward pass behind your dx uses the unbiased variance (m − 1 in "
        "σ²_B = (1/m) Σ (x_i − μ_B)²); training-mode normalisation uses the biased one, dividing by m.",
        "zh": "你的 dx 背后的前向计算用的是无偏方差（在 σ²_B = (1/m) Σ (x_i − μ_B)² 中用了 m − 1）；"
        "训练模式的归一化用有偏方差，除以 m。",
    },
    "backward_dgamma_dbeta_swapped": {
        "en": "dγ and dβ are swapped: dβ = Σ dy and dγ = Σ dy·x̂.",
        "zh": "dγ 和 dβ 弄反了：dβ = Σ dy，dγ = Σ dy·x̂。",
    },
    "backward_dgamma_uses_x": {
        "en": "dγ uses x where it needs x̂: y = γ·x̂ + β, so dγ = Σ dy·x̂.",
        "zh": "dγ 在需要 x̂ 的地方用了 x：y = γ·x̂ + β，所以 dγ = Σ dy·x̂。",
    },
    "backward_m_is_n": {
        "en": "The terms through μ_B and σ²_B divide by m = N = {n}, but a channel of (N, C, H, W) "
        "input has m = N·H·W = {m} values: in "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m, m counts every "
        "value of the channel (`m = x.size // x.shape[1]`).",
        "zh": "经过 μ_B 和 σ²_B 的项除以了 m = N = {n}，但 (N, C, H, W) 输入的一个通道有 m = N·H·W = {m} 个值："
        "在 ∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m 中，m 统计该通道的"
        "每一个值（`m = x.size // x.shape[1]`）。",
    },
    "backward_param_not_over_hw": {
        "en": "{what} has shape {shape}: for (N, C, H, W) input sum over the batch and over H and W, axes (0, 2, 3).",
        "zh": "{what} 的形状是 {shape}：对 (N, C, H, W) 输入，要在批量以及 H、W 上求和，即轴 (0, 2, 3)。",
    },
    "backward_passed": {
        "en": "dx, dγ and dβ agree with bnlib for (N, C) and (N, C, H, W) inputs, including the paths "
        "through μ_B and σ²_B.",
        "zh": "对 (N, C) 和 (N, C, H, W) 输入，dx、dγ 和 dβ 都与 bnlib 一致，包括经过 μ_B 和 σ²_B 的路径。",
    },
    # ------------------------------------------------------------ exercise 4: folding
    "fold_eps_outside_sqrt": {
        "en": "ε is added outside the square root, s = γ / (√var + ε); it belongs inside: s = γ / √(var + ε).",
        "zh": "ε 加在了平方根外面，s = γ / (√var + ε)；它应该在根号里面：s = γ / √(var + ε)。",
    },
    "fold_scale_on_inputs": {
        "en": "W is scaled along its columns (inputs). BN scales each *output* "
        "feature, so row c of W is multiplied by s_c: W' = diag(s)·W, `W * s[:, None]`.",
        "zh": "W 是按列（输入）缩放的。BN 缩放的是每个*输出*特征，所以 W 的第 c 行乘以 s_c："
        "W' = diag(s)·W，`W * s[:, None]`。",
    },
    "fold_std_without_eps": {
        "en": "The scale uses √var without ε: s = γ / √(var + ε).",
        "zh": "缩放因子用了不含 ε 的 √var：s = γ / √(var + ε)。",
    },
    "fold_var_not_std": {
        "en": "The scale divides by the variance, not the standard deviation: s = γ / √(var + ε).",
        "zh": "缩放因子除以的是方差，而不是标准差：s = γ / √(var + ε)。",
    },
    "fold_forgot_bias": {
        "en": "b_folded forgets the layer's own bias b: the BN input is x @ W.T + b, so b' = s·(b − mean) + β.",
        "zh": "b_folded 忘了这一层自己的偏置 b：BN 的输入是 x @ W.T + b，所以 b' = s·(b − mean) + β。",
    },
    "fold_mean_sign": {
        "en": "b_folded adds the mean: BN subtracts it, BN(z) = s·(z − mean) + β, and z = "
        "x @ W.T + b gives b' = s·(b − mean) + β (a sign error in the line that collects the constants).",
        "zh": "b_folded 加上了均值：BN 是减去它，BN(z) = s·(z − mean) + β，代入 z = x @ W.T + b 得到 "
        "b' = s·(b − mean) + β（合并常数项的那一行有符号错误）。",
    },
    "fold_forgot_beta": {
        "en": "b_folded forgets β: b' = s·(b − mean) + β.",
        "zh": "b_folded 忘了 β：b' = s·(b − mean) + β。",
    },
    "fold_bias_not_scaled": {
        "en": "The layer's bias b is not scaled: it passes through BN like the rest of the "
        "pre-activation, b' = s·(b − mean) + β.",
        "zh": "这一层的偏置 b 没有被缩放：它和预激活的其余部分一样要经过 BN，b' = s·(b − mean) + β。",
    },
    "fold_passed": {
        "en": "W' and b' agree with bnlib for a square and a rectangular weight, with ε inside the "
        "square root and the bias carried through.",
        "zh": "对方形和非方形的权重，W' 和 b' 都与 bnlib 一致：ε 在根号里面，偏置也被正确带入。",
    },
    # ------------------------------------------------------------ exercise 5: layer normalization
    "layernorm_batch_axis": {
        "en": "Your statistics are taken over the batch (axis 0), one per feature: that is BN. LN "
        "normalises each example over its own features, μ_i = (1/D) Σ_j x_ij: `x.mean(axis=1, keepdims=True)`.",
        "zh": "你的统计量是在批量上（轴 0）求的，每个特征一个：那是 BN。层归一化（LN）让每个样本在它自己的特征上"
        "归一化，μ_i = (1/D) Σ_j x_ij：`x.mean(axis=1, keepdims=True)`。",
    },
    "layernorm_params_per_example": {
        "en": "γ and β are applied per example (one value per row). They are per feature, shape (D,), "
        "and broadcast along the rows as they are: y_ij = γ_j·x̂_ij + β_j, `gamma * x_hat + beta`.",
        "zh": "γ 和 β 是按样本应用的（每行一个值）。它们是逐特征的，形状为 (D,)，原样即可沿各行广播："
        "y_ij = γ_j·x̂_ij + β_j，`gamma * x_hat + beta`。",
    },
    "layernorm_keepdims_lost": {
        "en": "Your per-example statistics (shape (N,)) met x along the feature axis: `x - x.mean(axis=1)` "
        "subtracts example j's mean from feature j. Keep the axis, `keepdims=True` (shape (N, 1)).",
        "zh": "你的逐样本统计量（形状 (N,)）是沿特征轴与 x 相运算的：`x - x.mean(axis=1)` 从特征 j 中减去了"
        "样本 j 的均值。请保留这个轴，`keepdims=True`（形状 (N, 1)）。",
    },
    "layernorm_shared_scalar": {
        "en": "You use one mean and one variance for the whole batch. LN keeps one of each per example.",
        "zh": "你对整个批量只用了一个均值和一个方差。LN 为每个样本各保留一个。",
    },
    "layernorm_unbiased_variance": {
        "en": "You normalise with the unbiased variance (dividing by D − 1). LN uses the biased one, "
        "σ²_i = (1/D) Σ_j (x_ij − μ_i)².",
        "zh": "你用无偏方差（除以 D − 1）做归一化。LN 用有偏方差，σ²_i = (1/D) Σ_j (x_ij − μ_i)²。",
    },
    "layernorm_eps_outside_sqrt": {
        "en": "ε is added outside the square root, (x − μ) / (√σ² + ε). It belongs inside: "
        "x̂ = (x − μ) / √(σ² + ε). The two differ when an example's variance is small, as in row 2.",
        "zh": "ε 加在了平方根外面：(x − μ) / (√σ² + ε)。它应该在根号里面：x̂ = (x − μ) / √(σ² + ε)。"
        "当某个样本的方差很小时两者不同，比如第 2 行。",
    },
    "layernorm_gamma_beta_not_applied": {
        "en": "Your output is x̂ itself: γ and β are not applied, y = γ·x̂ + β.",
        "zh": "你的输出就是 x̂ 本身：没有应用 γ 和 β，y = γ·x̂ + β。",
    },
    "layernorm_gamma_beta_swapped": {
        "en": "γ and β are swapped: y = γ·x̂ + β.",
        "zh": "γ 和 β 弄反了：y = γ·x̂ + β。",
    },
    "layernorm_passed": {
        "en": "square and rectangular (N, D) inputs agree with bnlib: statistics per example, over its "
        "features, ε inside the square root (example 2 has a tiny variance), γ and β per feature.",
        "zh": "方阵和非方阵的 (N, D) 输入都与 bnlib 一致：统计量按样本、在它的特征上求，ε 在根号里面"
        "（样本 2 的方差极小），γ 和 β 逐特征。",
    },
    "layernorm_backward_bn_reused": {
        "en": "dx is BN's backward with the axes unchanged: it {reused}",
        "zh": "dx 就是没有改动坐标轴的 BN 反向传播：它{reused}",
    },
    "layernorm_backward_bn_axes_in_dx": {
        "en": "x̂ is per example, but your dx {reused}",
        "zh": "x̂ 是按样本计算的，但你的 dx {reused}",
    },
    "layernorm_backward_dgamma_bn_reused": {
        "en": "dγ uses BN's x̂ (statistics over the batch): {reused}",
        "zh": "dγ 用的是 BN 的 x̂（在批量上求的统计量）：它{reused}",
    },
    "layernorm_backward_reused": {
        "en": "reduces over the batch axis, as BN's backward does: in LN, μ and σ² are per example, "
        "so the sums in ∂L/∂μ_i and ∂L/∂σ²_i run over the features of one example (axis 1), "
        "dx = (g − mean_j g − x̂·mean_j(g·x̂)) / √(σ²_i + ε) with m = D. (Only dγ and dβ sum over "
        "the batch, axis 0.)",
        "zh": "像 BN 的反向传播那样在批量轴上归约：在 LN 中，μ 和 σ² 是逐样本的，所以 ∂L/∂μ_i 和 ∂L/∂σ²_i "
        "中的求和是在一个样本的特征上（轴 1），dx = (g − mean_j g − x̂·mean_j(g·x̂)) / √(σ²_i + ε)，"
        "其中 m = D。（只有 dγ 和 dβ 在批量上求和，即轴 0。）",
    },
    "layernorm_backward_m_is_n": {
        "en": "dx divides by N = {n}, the batch size, where the sums over one example run over "
        "its D = {d} features: in ∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m, "
        "m = D for LN.",
        "zh": "dx 除以了批大小 N = {n}，而对一个样本的求和是在它的 D = {d} 个特征上进行的：在 "
        "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m 中，LN 的 m = D。",
    },
    "layernorm_backward_dgamma_over_features": {
        "en": "dγ sums over the features of each example; γ is per feature, so dγ_j = Σ_i dy_ij·x̂_ij "
        "sums over the batch, axis 0.",
        "zh": "dγ 是在每个样本的特征上求和的；γ 是逐特征的，所以 dγ_j = Σ_i dy_ij·x̂_ij 要在批量上求和，即轴 0。",
    },
    "layernorm_backward_dbeta_over_features": {
        "en": "dβ sums over the features of each example; β is per feature: dβ_j = Σ_i dy_ij, axis 0.",
        "zh": "dβ 是在每个样本的特征上求和的；β 是逐特征的：dβ_j = Σ_i dy_ij，轴 0。",
    },
    "layernorm_backward_param_per_example": {
        "en": "{what} has one value per example, shape {shape}: γ and β are per "
        "feature, so their gradients sum over the batch, axis 0, to shape (D,).",
        "zh": "{what} 每个样本有一个值，形状为 {shape}：γ 和 β 是逐特征的，所以它们的梯度要在批量上（轴 0）"
        "求和，得到形状 (D,)。",
    },
    "layernorm_backward_passed": {
        "en": "dx, dγ and dβ agree with bnlib for square and rectangular (N, D) inputs: dx reduces over "
        "each example's features, dγ and dβ over the batch.",
        "zh": "对方阵和非方阵的 (N, D) 输入，dx、dγ 和 dβ 都与 bnlib 一致：dx 在每个样本的特征上归约，"
        "dγ 和 dβ 在批量上归约。",
    },
}


def say(key: str, language: str, **fields) -> str:
    """The message ``key`` in ``language`` (one of :data:`LANGUAGES`), its fields filled in."""
    return MESSAGES[key][language].format(**fields)
