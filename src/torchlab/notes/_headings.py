"""Where each section stands in the notes: (heading, first line, last line) of the notes' text it runs.

Line numbers refer to ../shared/notes/pytorch-notes.md. `heading` is the nearest heading at or above
`first`; first..last hold the section's snippet (its tables, formulas and code, no trailing blank
lines), and `torchlab notes SECTION` quotes them. A heading that only groups sections (交叉验证 over
data_split and kfold) is quoted with each of them. tests/test_notes.py checks each range against the
file, and that every non-blank line of the notes belongs to a section, but for the chapter titles it lists.
"""

HEADINGS: dict[str, list[tuple[str, int, int]]] = {
    "tensor_types": [("Tensor:", 1, 9)],
    "embedding": [("string:", 11, 15), ("时间序列表示方法", 17, 42)],
    "creation": [("常用PyTorch方法", 46, 66)],
    "indexing": [("切片操作", 68, 75)],
    "views": [("视图信息", 77, 88)],
    "broadcasting": [("Broadcasting：自动维度扩展", 90, 94)],
    "cat_split": [("合并与切分", 96, 103)],
    "math_ops": [("数学运算", 105, 125)],
    "statistics": [("统计数据", 127, 144)],
    "activations": [
        ("Sigmoid", 152, 167),
        ("Tanh", 169, 179),
        ("Rectified Linear Unit", 181, 201),
    ],
    "mse": [("典型的loss损失函数", 203, 203), ("均方差函数MSE（Mean Squared Error）", 205, 224)],
    "entropy": [("典型的loss损失函数", 203, 203), ("Cross Entropy loss：交叉熵", 228, 264)],
    "cross_entropy": [("典型的loss损失函数", 203, 203), ("Cross Entropy loss：交叉熵", 228, 264)],
    "softmax": [("Softmax", 267, 278)],
    "backprop": [("MLP多输出感知机", 280, 282), ("MLP多层感知机及反向传播", 284, 292)],
    "mlp_scratch": [("多分类问题实战", 296, 337), ("argmax", 398, 400), ("测试实战", 402, 419)],
    "linear_layers": [("全连接层", 339, 382)],
    "device": [("GPU加速", 384, 396)],
    "visualization": [("Visdom可视化", 421, 450)],
    "overfitting": [("过拟合和欠拟合", 452, 454)],
    "data_split": [("交叉验证", 456, 456), ("train-val-test：划分数据", 458, 478)],
    "kfold": [("交叉验证", 456, 456), ("K交叉验证", 480, 480)],
    "regularization": [("Regularization（Weight Decay）：防止Overfitting", 482, 511)],
    "momentum_lr": [("动量与学习率衰减", 513, 546)],
    "dropout": [("Dropout", 548, 572)],
    "convolution": [("卷积", 576, 603)],
    "pooling": [("池化层与采样", 605, 629)],
    "normalization": [
        ("Feature scaling", 631, 631),
        ("Image Normalization", 633, 642),
        ("Batch Normalization", 644, 668),
    ],
    "batchnorm_eval": [("Batch Normalization", 644, 668)],
    "resnet": [("深度残差网络", 670, 694)],
    "densenet": [("深度残差网络", 696, 696)],
    "modules": [("nn.Module", 698, 762)],
    "augmentation": [("数据增强", 764, 822)],
    "rnn": [("RNN原理", 826, 870)],
    "sine_forecast": [("时间序列预测", 872, 948)],
    "grad_clip": [("梯度弥散和梯度爆炸", 950, 969)],
    "lstm": [("LSTM网络", 971, 1017)],
    "project": [("实战", 1019, 1084)],
    "vae_kl": [("AutoEncoder：自动编码器", 1086, 1095)],
    "gan": [("GAN：生成对抗网络", 1097, 1117)],
}
