# Alice Moreno - CSE 4309 - neural networks assignment, Keras part (form D)

import os

import numpy as np
import tensorflow as tf


def read_file(path):
    inputs, tokens = [], []
    with open(path, "r") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 0:  # skip empty lines at the end
                continue
            inputs.append([float(x) for x in parts[:-1]])
            tokens.append(parts[-1])
    return inputs, tokens


def load_dataset(directory, dataset):
    train_x, train_tokens = read_file(os.path.join(directory, dataset + "_training.txt"))
    test_x, test_tokens = read_file(os.path.join(directory, dataset + "_test.txt"))

    # one mapping for both files: training labels first, then any new test labels
    label_to_int = {}
    for token in train_tokens + test_tokens:
        if token not in label_to_int:
            label_to_int[token] = len(label_to_int)
    ints_to_labels = {v: k for k, v in label_to_int.items()}

    train_y = np.array([[label_to_int[t]] for t in train_tokens], dtype=int)
    test_y = np.array([[label_to_int[t]] for t in test_tokens], dtype=int)
    train_x = np.array(train_x, dtype=float)
    test_x = np.array(test_x, dtype=float)
    return (train_x, train_y), (test_x, test_y), ints_to_labels


def normalize(training_inputs, test_inputs):
    max_abs = np.max(np.abs(training_inputs))
    return training_inputs / max_abs, test_inputs / max_abs


def object_accuracy(outputs, true_class):
    outputs = np.array(outputs).flatten()
    best = np.max(outputs)
    ties = [i for i in range(len(outputs)) if outputs[i] == best]
    if int(true_class) in ties:
        return 1.0 / len(ties)
    return 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    num_classes = int(np.max(training_labels) + 1)
    num_attributes = training_inputs.shape[1]

    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(num_attributes,)))
    # layers includes input and output, so layers - 2 hidden layers
    for h in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer[h],
                                        activation=hidden_activations[h]))
    model.add(tf.keras.layers.Dense(num_classes, activation="softmax"))

    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    predictions = model.predict(test_inputs, verbose=0)
    n = test_inputs.shape[0]
    acc_sum = 0.0
    for i in range(n):
        true_class = int(np.ravel(test_labels[i])[0])
        predicted = int(np.argmax(predictions[i]))
        acc = object_accuracy(predictions[i], true_class)
        acc_sum += acc
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f"
              % (i, ints_to_labels[predicted], ints_to_labels[true_class], acc))
    final = acc_sum / n
    print("classification accuracy=%6.4f" % final)
    return final
