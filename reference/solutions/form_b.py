"""Reference solution for form B: one function, `nn_keras`, does everything.

Written the way a careful student would write `nn_keras.py`, so the grader
can run it exactly like a submission: one file, numpy and TensorFlow only.
"""

import numpy as np
import tensorflow as tf


def read_data_file(path):
    """Read one course file into a list of attribute rows and a list of labels."""
    rows = []
    tokens = []
    with open(path) as data_file:
        for line in data_file:
            fields = line.split()
            if not fields:
                continue
            rows.append([float(value) for value in fields[:-1]])
            tokens.append(fields[-1])
    return rows, tokens


def nn_keras(directory, dataset, layers, units_per_layer, epochs):
    """Train a sigmoid network on `dataset` and print its test accuracy.

    `layers` counts the input and the output layer, so the network has
    `layers - 2` hidden layers of `units_per_layer` units each.
    """
    training_rows, training_tokens = read_data_file(
        f"{directory}/{dataset}_training.txt"
    )
    test_rows, test_tokens = read_data_file(f"{directory}/{dataset}_test.txt")

    # Labels become integers in order of first appearance, training file first.
    labels_to_ints = {}
    for token in training_tokens + test_tokens:
        if token not in labels_to_ints:
            labels_to_ints[token] = len(labels_to_ints)
    ints_to_labels = {number: token for token, number in labels_to_ints.items()}

    training_inputs = np.array(training_rows, dtype=np.float64)
    test_inputs = np.array(test_rows, dtype=np.float64)
    training_labels = np.array([labels_to_ints[t] for t in training_tokens])
    test_labels = np.array([labels_to_ints[t] for t in test_tokens])

    scale = np.max(np.abs(training_inputs))
    training_inputs = training_inputs / scale
    test_inputs = test_inputs / scale

    number_of_classes = len(labels_to_ints)
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(training_inputs.shape[1],)))
    for _ in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer, activation="sigmoid"))
    model.add(tf.keras.layers.Dense(number_of_classes, activation="sigmoid"))

    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy())
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)

    outputs = model.predict(test_inputs, verbose=0)
    total = 0.0
    for object_id in range(len(test_labels)):
        output = outputs[object_id]
        true_class = int(test_labels[object_id])
        predicted_class = int(np.argmax(output))

        (tied,) = np.nonzero(output == np.max(output))
        accuracy = 1.0 / len(tied) if true_class in tied else 0.0
        total += accuracy
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" % (
            object_id, ints_to_labels[predicted_class],
            ints_to_labels[true_class], accuracy))

    classification_accuracy = total / len(test_labels)
    print("classification accuracy=%6.4f" % classification_accuracy)
    return classification_accuracy
