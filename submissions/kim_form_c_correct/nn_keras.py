# Kim's form C: a command-line script.
# usage: python nn_keras.py training_file test_file layers units rounds activation
import sys

import numpy as np
import tensorflow as tf


def load(path):
    data = [line.split() for line in open(path) if line.strip()]
    inputs = np.array([[float(x) for x in row[:-1]] for row in data])
    return inputs, [row[-1] for row in data]


if len(sys.argv) != 7:
    print("usage: nn_keras.py training_file test_file layers units rounds activation")
    sys.exit(1)

train_x, train_tokens = load(sys.argv[1])
test_x, test_tokens = load(sys.argv[2])
layers, units, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
activation = sys.argv[6]

label_ids = {}
for token in train_tokens + test_tokens:
    if token not in label_ids:
        label_ids[token] = len(label_ids)
id_to_label = {i: t for t, i in label_ids.items()}
train_y = np.array([label_ids[t] for t in train_tokens])
test_y = np.array([label_ids[t] for t in test_tokens])

biggest = np.max(np.abs(train_x))
train_x = train_x / biggest
test_x = test_x / biggest

net = tf.keras.Sequential()
net.add(tf.keras.Input(shape=(train_x.shape[1],)))
for _ in range(layers - 2):
    net.add(tf.keras.layers.Dense(units, activation=activation))
net.add(tf.keras.layers.Dense(len(label_ids), activation="softmax"))
net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
net.fit(train_x, train_y, epochs=rounds, verbose=0)

scores = []
for i, row in enumerate(net.predict(test_x, verbose=0)):
    best = np.flatnonzero(row == row.max())
    score = 1 / len(best) if test_y[i] in best else 0.0
    scores.append(score)
    print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f"
          % (i, id_to_label[int(best[0])], id_to_label[int(test_y[i])], score))
print("classification accuracy=%6.4f" % np.mean(scores))
