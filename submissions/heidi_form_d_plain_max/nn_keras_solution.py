# Heidi Brandt, Keras programming assignment

import numpy as np
import tensorflow as tf


def load_dataset(directory, dataset):
    files = [directory + "/" + dataset + "_training.txt",
             directory + "/" + dataset + "_test.txt"]
    label_ids = {}
    sets = []
    for name in files:
        x, y = [], []
        with open(name) as fh:
            for line in fh:
                cols = line.split()
                if not cols:
                    continue
                if cols[-1] not in label_ids:
                    label_ids[cols[-1]] = len(label_ids)
                x.append([float(c) for c in cols[:-1]])
                y.append(label_ids[cols[-1]])
        sets.append((np.array(x, dtype=np.float64),
                     np.array(y, dtype=np.int64).reshape(-1, 1)))
    ints_to_labels = {v: k for k, v in label_ids.items()}
    return sets[0], sets[1], ints_to_labels


def normalize(training_inputs, test_inputs):
    # same as the lecture slide: divide by the largest training value
    max_value = np.max(training_inputs)
    training_inputs = training_inputs / max_value
    test_inputs = test_inputs / max_value
    return training_inputs, test_inputs


def object_accuracy(outputs, true_class):
    outputs = np.array(outputs).flatten()
    (indices,) = np.nonzero(outputs == np.max(outputs))
    if true_class in indices:
        return 1 / len(indices)
    return 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    k = int(np.max(training_labels)) + 1
    layer_list = [tf.keras.Input(shape=training_inputs[0].shape)]
    for i in range(layers - 2):
        layer_list.append(tf.keras.layers.Dense(units_per_layer[i],
                                                activation=hidden_activations[i]))
    layer_list.append(tf.keras.layers.Dense(k, activation='softmax'))
    model = tf.keras.Sequential(layer_list)

    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=['accuracy'])
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    nn_outputs = model.predict(test_inputs, verbose=0)
    total = 0.0
    for test_index in range(len(test_inputs)):
        true_class = int(np.ravel(test_labels[test_index])[0])
        output = nn_outputs[test_index]
        accuracy = object_accuracy(output, true_class)
        total += accuracy
        print('ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f' % (
            test_index, ints_to_labels[int(np.argmax(output))],
            ints_to_labels[true_class], accuracy))
    classification_accuracy = total / len(test_inputs)
    print('classification accuracy=%6.4f' % classification_accuracy)
    return classification_accuracy
