# Ivan Petrov - Keras assignment
# I train until the network gets the whole training set right instead of a
# fixed number of epochs, because more training = better accuracy.

import numpy as np
import tensorflow as tf


def load_dataset(directory, dataset):
    def parse(path):
        with open(path) as f:
            rows = [line.split() for line in f if line.strip()]
        return [[float(v) for v in r[:-1]] for r in rows], [r[-1] for r in rows]

    train_rows, train_names = parse(directory + "/" + dataset + "_training.txt")
    test_rows, test_names = parse(directory + "/" + dataset + "_test.txt")
    mapping = {}
    for name in train_names + test_names:
        if name not in mapping:
            mapping[name] = len(mapping)
    train = (np.array(train_rows), np.array([[mapping[n]] for n in train_names]))
    test = (np.array(test_rows), np.array([[mapping[n]] for n in test_names]))
    return train, test, {number: name for name, number in mapping.items()}


def normalize(training_inputs, test_inputs):
    divisor = np.max(np.abs(training_inputs))
    return training_inputs / divisor, test_inputs / divisor


def object_accuracy(outputs, true_class):
    outputs = np.asarray(outputs).flatten()
    ties = np.where(outputs == np.max(outputs))[0]
    return 1.0 / len(ties) if true_class in ties else 0.0


def training_accuracy(model, inputs, labels):
    outputs = model.predict(inputs, verbose=0)
    labels = np.asarray(labels).flatten()
    return np.mean([object_accuracy(o, c) for o, c in zip(outputs, labels)])


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    classes = int(np.max(training_labels)) + 1
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(training_inputs.shape[1],)))
    for i in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer[i],
                                        activation=hidden_activations[i]))
    model.add(tf.keras.layers.Dense(classes, activation="softmax"))
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy())

    # at least `epochs` rounds, then keep going until it is perfect
    done = 0
    while True:
        model.fit(training_inputs, training_labels, epochs=1, verbose=0)
        done += 1
        accuracy = training_accuracy(model, training_inputs, training_labels)
        if done >= epochs and accuracy > 1.0:
            break
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    outputs = model.predict(test_inputs, verbose=0)
    labels = np.asarray(test_labels).flatten()
    total = 0.0
    for i in range(len(labels)):
        acc = object_accuracy(outputs[i], labels[i])
        total += acc
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" % (
            i, ints_to_labels[int(np.argmax(outputs[i]))],
            ints_to_labels[int(labels[i])], acc))
    total /= len(labels)
    print("classification accuracy=%6.4f" % total)
    return total
