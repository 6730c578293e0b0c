"""Reference solution for form C: a script run from the command line.

    python nn_keras.py <training_file> <test_file> <layers> <units_per_layer>
                       <rounds> <activation>

Written the way a careful student would write it, so the grader can run it
exactly like a submission: one file, numpy and TensorFlow only, all the work
under ``if __name__ == "__main__"``.
"""

import sys

import numpy as np
import tensorflow as tf


def read_data_file(path):
    rows, tokens = [], []
    with open(path) as data_file:
        for line in data_file:
            fields = line.split()
            if fields:
                rows.append([float(value) for value in fields[:-1]])
                tokens.append(fields[-1])
    return np.array(rows, dtype=np.float64), tokens


def main(training_file, test_file, layers, units_per_layer, rounds, activation):
    training_inputs, training_tokens = read_data_file(training_file)
    test_inputs, test_tokens = read_data_file(test_file)

    labels_to_ints = {}
    for token in training_tokens + test_tokens:
        labels_to_ints.setdefault(token, len(labels_to_ints))
    ints_to_labels = {number: token for token, number in labels_to_ints.items()}
    training_labels = np.array([labels_to_ints[t] for t in training_tokens])
    test_labels = np.array([labels_to_ints[t] for t in test_tokens])

    scale = np.max(np.abs(training_inputs))
    training_inputs, test_inputs = training_inputs / scale, test_inputs / scale

    model = tf.keras.Sequential([tf.keras.Input(shape=(training_inputs.shape[1],))])
    for _ in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer, activation=activation))
    model.add(tf.keras.layers.Dense(len(labels_to_ints), activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(training_inputs, training_labels, epochs=rounds, verbose=0)

    outputs = model.predict(test_inputs, verbose=0)
    total = 0.0
    for object_id, (output, true_class) in enumerate(zip(outputs, test_labels)):
        (tied,) = np.nonzero(output == np.max(output))
        accuracy = 1.0 / len(tied) if true_class in tied else 0.0
        total += accuracy
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" % (
            object_id, ints_to_labels[int(np.argmax(output))],
            ints_to_labels[int(true_class)], accuracy))
    print("classification accuracy=%6.4f" % (total / len(test_labels)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
         int(sys.argv[5]), sys.argv[6])
